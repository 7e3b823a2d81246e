package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/e2e/stack"
)

// testLogWriter forwards progress lines to t.Log so they show with -v and
// on failure.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startStack is stack.Start for one test: Dir defaults to t.TempDir(), progress goes to
// t.Log, failure is fatal, and Stop runs at cleanup. When the test failed,
// the cleanup also logs the tails of Envoy's and hookguard's logs, because
// the temp dir holding them is deleted right after.
func startStack(t testing.TB, opts stack.Options) *stack.Stack {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Log == nil {
		opts.Log = testLogWriter{t}
	}
	s, err := stack.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(s.LogTails(4096))
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	return s
}

// startHookguard starts hookguard with its log in t.TempDir() and stops it
// at cleanup, reporting a shutdown that needed SIGKILL as a test error.
func startHookguard(t testing.TB, cfg stack.HookguardConfig) *stack.Hookguard {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testLogWriter{t}
	}
	h, err := stack.StartHookguard(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatalf("start hookguard: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("stop hookguard: %v", err)
		}
	})
	return h
}

// requireEnvoy fails the test (never skips it) when Envoy is not installed:
// a silently skipped e2e suite looks exactly like a passing one.
func requireEnvoy(t testing.TB) string {
	t.Helper()
	bin, err := stack.EnvoyBinary()
	if err != nil {
		t.Fatalf("%v: run `make envoy`", err)
	}
	return bin
}
