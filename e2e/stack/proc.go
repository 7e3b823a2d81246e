package stack

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a child started with its output in a log file. It is shared by
// the Envoy and hookguard wrappers so both stop the same bounded way.
type process struct {
	name    string
	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{} // closed once the child has been reaped
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// startProcess runs argv with stdout and stderr appended to logPath. If
// stdoutPath is non-empty, stdout goes there instead (Envoy's access log).
func startProcess(name string, argv []string, env []string, dir, logPath, stdoutPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stderr = logFile
	cmd.Stdout = logFile
	var outFile *os.File
	if stdoutPath != "" {
		outFile, err = os.OpenFile(stdoutPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			logFile.Close()
			return nil, err
		}
		cmd.Stdout = outFile
	}
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		if outFile != nil {
			outFile.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		if outFile != nil {
			outFile.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the child is gone, so readiness loops can stop
// waiting for a process that crashed on startup.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs. Calling it again
// returns the first result, so both t.Cleanup and an explicit Stop are safe.
func (p *process) stop(grace time.Duration) error {
	p.stopOnce.Do(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(grace):
		}
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
			p.stopErr = fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, grace)
		case <-time.After(5 * time.Second):
			p.stopErr = fmt.Errorf("%s (pid %d) survived SIGKILL for 5s", p.name, p.cmd.Process.Pid)
		}
	})
	return p.stopErr
}

// kill is for processes whose shutdown is not under test (Envoy).
func (p *process) kill() error {
	p.stopOnce.Do(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.stopErr = fmt.Errorf("%s (pid %d) survived SIGKILL for 5s", p.name, p.cmd.Process.Pid)
		}
	})
	return p.stopErr
}

// tail returns up to n bytes from the end of a log file, for error messages
// that should say why a child did not come up.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return ""
	}
	if info.Size() > n {
		if _, err := f.Seek(-n, io.SeekEnd); err != nil {
			return ""
		}
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// errExited marks a readiness failure caused by the child dying.
var errExited = errors.New("process exited")
