package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// stalled is a destination that takes nothing until released, as a full
// pipe or a stuck log collector.
type stalled struct {
	release chan struct{}
	mu      sync.Mutex
	got     bytes.Buffer
	writes  int
}

func (s *stalled) Write(p []byte) (int, error) {
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.got.Write(p)
}

func TestWriteNeverWaitsAndCountsDrops(t *testing.T) {
	dst := &stalled{release: make(chan struct{})}
	w := New(dst, 100)
	line := []byte("0123456789012345678\n") // 20 bytes
	start := time.Now()
	// The first line may already be in the stalled Write; then five
	// more fit, and the rest are dropped.
	for range 50 {
		if n, err := w.Write(line); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("50 writes to a stalled destination took %v", d)
	}
	dropped := w.Dropped()
	if dropped < 44 || dropped > 45 {
		t.Errorf("dropped %d lines, want 44 or 45 of 50 with room for 5 or 6", dropped)
	}
	close(dst.release)
	if !w.Close(5 * time.Second) {
		t.Fatal("Close timed out")
	}
	if got := strings.Count(dst.got.String(), string(line)); uint64(got) != 50-dropped {
		t.Errorf("%d lines written, want %d", got, 50-dropped)
	}
	if w.Written() != uint64(dst.got.Len()) {
		t.Errorf("Written %d, destination got %d", w.Written(), dst.got.Len())
	}
	w.Write(line)
	if w.Dropped() != dropped+1 {
		t.Error("a line after Close was not dropped")
	}
}

func TestLinesKeepTheirOrderAndBatch(t *testing.T) {
	dst := &stalled{release: make(chan struct{})}
	close(dst.release)
	w := New(dst, 0)
	var want strings.Builder
	for i := range 1000 {
		l := fmt.Sprintf("line %d\n", i)
		want.WriteString(l)
		w.Write([]byte(l))
	}
	w.Close(5 * time.Second)
	if dst.got.String() != want.String() {
		t.Error("lines out of order or lost")
	}
	if w.Dropped() != 0 {
		t.Errorf("dropped %d", w.Dropped())
	}
	t.Logf("1000 lines in %d writes", dst.writes)
}

func TestEachLine(t *testing.T) {
	var calls []string
	w := EachLine(writerFunc(func(p []byte) (int, error) { calls = append(calls, string(p)); return len(p), nil }))
	n, err := w.Write([]byte("a\nbb\nccc"))
	if n != 8 || err != nil || strings.Join(calls, "|") != "a\n|bb\n|ccc" {
		t.Errorf("Write = %d, %v; calls %q", n, err, calls)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
