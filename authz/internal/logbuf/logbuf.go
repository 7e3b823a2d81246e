// Package logbuf writes log lines through a bounded buffer, so that the
// code producing them never waits for the log: a line that finds the buffer
// full is dropped and counted instead.
package logbuf

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// batchDelay is how long the writer lets lines gather after the first of
// a batch: a log line is at most that late, and a busy gateway makes a
// write to the log every few milliseconds rather than one per decision.
const batchDelay = 5 * time.Millisecond

// DefaultSize is the default buffer size: some thousands of decision log
// lines, a few seconds of a busy gateway's log when its destination
// stalls.
const DefaultSize = 1 << 20

// Writer is an io.Writer whose Write copies the line into a buffer and
// returns at once; a goroutine writes the buffer out, many lines per write
// to the destination. It expects whole lines, one per Write, as zerolog
// writes them.
type Writer struct {
	out   io.Writer
	limit int

	mu      sync.Mutex
	pending []byte // lines waiting to be written
	closed  bool

	wake    chan struct{} // a token: pending has lines
	done    chan struct{} // closed when the writing goroutine returns
	dropped atomic.Uint64
	written atomic.Uint64
}

// New starts a Writer to out holding at most size bytes of lines; size <= 0
// means DefaultSize. out receives several whole lines per Write: wrap a
// destination that takes one line at a time (zerolog.ConsoleWriter) with
// EachLine. Close stops it.
func New(out io.Writer, size int) *Writer {
	if size <= 0 {
		size = DefaultSize
	}
	w := &Writer{out: out, limit: size, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// Write queues the line p; it never blocks on the destination. When p does
// not fit, or the Writer is closed, p is dropped and counted in Dropped. It
// always reports success, as a dropped log line must not fail what it
// describes.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed || len(w.pending)+len(p) > w.limit {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.pending = append(w.pending, p...)
	// Under the lock, so that Close cannot close wake in between.
	select {
	case w.wake <- struct{}{}:
	default: // the writer is already due to run
	}
	w.mu.Unlock()
	return len(p), nil
}

// Dropped returns the number of lines dropped so far.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Written returns the number of bytes written to the destination so far.
func (w *Writer) Written() uint64 { return w.written.Load() }

// Close writes out what is queued, waiting at most timeout, and stops the
// Writer; later lines are dropped. It returns false when the destination
// did not take the queued lines in time.
func (w *Writer) Close(timeout time.Duration) bool {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.wake)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (w *Writer) run() {
	defer close(w.done)
	var batch []byte
	for range w.wake {
		time.Sleep(batchDelay)
		for {
			w.mu.Lock()
			batch, w.pending = w.pending, batch[:0]
			w.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			n, _ := w.out.Write(batch)
			w.written.Add(uint64(n))
		}
	}
	// Closed: what came in between the last wake and Close.
	w.mu.Lock()
	batch, w.pending = w.pending, nil
	w.mu.Unlock()
	if len(batch) > 0 {
		n, _ := w.out.Write(batch)
		w.written.Add(uint64(n))
	}
}

// EachLine returns a writer that hands out one line per Write, for a
// destination that expects that.
func EachLine(out io.Writer) io.Writer { return eachLine{out} }

type eachLine struct{ out io.Writer }

func (e eachLine) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		m, err := e.out.Write(line)
		n += m
		if err != nil {
			return n, err
		}
		p = p[len(line):]
	}
	return n, nil
}
