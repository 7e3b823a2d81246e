package authz_test

import (
	"context"
	"testing"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
)

// TestHeadIsANearMissOfGet: frameworks (Go's ServeMux, Flask, Express)
// answer a HEAD with the GET handler, so a HEAD to a strict endpoint that
// takes GET is that endpoint's and refused, never given to a broader
// endpoint that allows HEAD, which would send it upstream unverified.
func TestHeadIsANearMissOfGet(t *testing.T) {
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}),
		&authz.Endpoint{Name: "meta", Match: authz.Match{PathPrefix: "/webhooks/meta", Methods: []string{"GET", "POST"}}, Verifier: &stubVerifier{}},
		&authz.Endpoint{Name: "github", Match: authz.Match{PathPrefix: "/webhooks/github"}, Verifier: &stubVerifier{}},
		&authz.Endpoint{Name: "broad", Match: authz.Match{PathPrefix: "/webhooks", Methods: []string{"GET", "HEAD", "POST"}}, Verifier: &stubVerifier{}, DryRun: true},
	)
	for _, tt := range []struct {
		method, path string
		endpoint     string
		reason       authz.Reason
	}{
		{"HEAD", "/webhooks/meta", "meta", authz.MethodNotAllowed},
		{"GET", "/webhooks/meta", "meta", authz.OK},
		{"HEAD", "/webhooks/other", "broad", authz.OK},
		// A POST-only endpoint's path with another method is another
		// route to frameworks too.
		{"HEAD", "/webhooks/github", "broad", authz.OK},
	} {
		d := a.Check(context.Background(), &authz.Request{Method: tt.method, Host: "hooks.example.com", Path: tt.path, Header: authz.Header{"x-sig": "good"}})
		if d.Endpoint != tt.endpoint || d.Reason != tt.reason {
			t.Errorf("%s %s: got %q %s, want %q %s", tt.method, tt.path, d.Endpoint, d.Reason, tt.endpoint, tt.reason)
		}
		if ans := d.Answer(); tt.reason == authz.MethodNotAllowed && (ans.Forward || ans.Status != 405) {
			t.Errorf("%s %s: forward=%v status=%d, want a 405 denial", tt.method, tt.path, ans.Forward, ans.Status)
		}
	}
}
