package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

// Case h, part 1: Envoy with no hookguard at all. Every check fails to
// connect; with failure_mode_allow false and status_on_error 503 Envoy must
// answer 503 itself, even for a correctly signed delivery, and nothing may
// reach the upstream. This needs no hookguard binary, so it also guards the
// Envoy bootstrap on its own.
func TestFailClosedWithoutHookguard(t *testing.T) {
	requireEnvoy(t)
	s := startStack(t, stack.Options{MaxRequestBytes: testMaxRequestBytes})

	body := []byte(`{"zen":"fail closed"}`)
	for i, c := range []*http.Client{s.Client, s.Client11} {
		r := send(t, c, http.MethodPost, s.URL("/webhooks/github"), githubHeaders(githubSecret, body, newUUID()), body)
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("client %d: got %s, want 503", i, r)
		}
	}
	// The catch-all route is checked too: no path slips past ext_authz.
	r := send(t, s.Client, http.MethodPost, s.URL("/anything"), nil, body)
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("catch-all route: got %s, want 503", r)
	}
	wantNothingUpstream(t, s)

	errs, err := s.Envoy.Counter("http.ingress_http.ext_authz.error")
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := s.Envoy.Counter("http.ingress_http.ext_authz.failure_mode_allowed")
	if err != nil {
		t.Fatal(err)
	}
	if errs < 3 || allowed != 0 {
		t.Errorf("ext_authz.error = %d (want >= 3), failure_mode_allowed = %d (want 0)", errs, allowed)
	}
}

// Case h, part 2: a hookguard that was serving goes away. Its own stack, so
// stopping hookguard cannot disturb the other cases. No request may be
// allowed after the stop, neither before Envoy's health check notices (the
// gRPC call then fails to connect) nor after (no healthy host, and panic
// routing is off).
func TestFailClosedWhenHookguardStops(t *testing.T) {
	requireEnvoy(t)
	bin := hookguardBinary(t)
	dir := t.TempDir()
	s := startStack(t, stack.Options{
		Dir:             dir,
		PoliciesDir:     writePolicies(t, filepath.Join(dir, "policies")),
		HookguardBinary: bin,
		HookguardEnv:    secretEnv(),
		MaxRequestBytes: testMaxRequestBytes,
	})

	body := []byte(`{"zen":"before the stop"}`)
	r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders(githubSecret, body, newUUID()), body)
	if r.Status != http.StatusOK {
		t.Fatalf("with hookguard up: got %s, want 200", r)
	}
	s.Upstream.Reset()

	if err := s.Hookguard.Stop(); err != nil {
		t.Errorf("hookguard did not stop cleanly on SIGTERM: %v", err)
	}

	// Right after the stop Envoy may still think the host is healthy; the
	// answer must still be a 503, never a pass-through.
	r = send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders(githubSecret, body, newUUID()), body)
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("just after stop: got %s, want 503", r)
	}

	ctx := context.Background()
	if err := s.Envoy.WaitHookguardUnhealthy(ctx, 10*time.Second); err != nil {
		t.Errorf("envoy health check: %v", err)
	}
	// Bounded: three deliveries, each must be refused with 503.
	for i := range 3 {
		r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders(githubSecret, body, newUUID()), body)
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("delivery %d with hookguard down: got %s, want 503", i, r)
		}
	}
	wantNothingUpstream(t, s)
}
