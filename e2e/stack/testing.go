package stack

import (
	"context"
	"strings"
	"testing"
)

// testLogWriter forwards progress lines to t.Log so they show with -v and
// on failure.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// StartT is Start for one test: Dir defaults to t.TempDir(), progress goes to
// t.Log, failure is fatal, and Stop runs at cleanup. When the test failed,
// the cleanup also logs the tails of Envoy's and hookguard's logs, because
// the temp dir holding them is deleted right after.
func StartT(t testing.TB, opts Options) *Stack {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Log == nil {
		opts.Log = testLogWriter{t}
	}
	s, err := Start(context.Background(), opts)
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

// StartUpstreamT starts an Upstream on a free port, closed at cleanup.
func StartUpstreamT(t testing.TB) *Upstream {
	t.Helper()
	u, err := StartUpstream(0)
	if err != nil {
		t.Fatalf("start upstream: %v", err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return u
}

// StartHookguardT starts hookguard with its log in t.TempDir() and stops it
// at cleanup, reporting a shutdown that needed SIGKILL as a test error.
func StartHookguardT(t testing.TB, cfg HookguardConfig) *Hookguard {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testLogWriter{t}
	}
	h, err := StartHookguard(context.Background(), t.TempDir(), cfg)
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

// RequireEnvoyT fails the test (never skips it) when Envoy is not installed:
// a silently skipped e2e suite looks exactly like a passing one.
func RequireEnvoyT(t testing.TB) string {
	t.Helper()
	bin, err := EnvoyBinary()
	if err != nil {
		t.Fatalf("%v: run `make envoy`", err)
	}
	return bin
}
