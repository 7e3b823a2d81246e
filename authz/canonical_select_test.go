package authz_test

import (
	"context"
	"testing"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
)

// TestNonCanonicalNeverMatchesLoosely: a strict endpoint on
// /webhooks/github beside a broad one on /webhooks. Every spelling of the
// strict path that a router or an upstream might read as /webhooks/github
// is refused, none reaches the broad endpoint.
func TestNonCanonicalNeverMatchesLoosely(t *testing.T) {
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}),
		&authz.Endpoint{Name: "github", Match: authz.Match{Path: "/webhooks/github"}, Verifier: &stubVerifier{}},
		&authz.Endpoint{Name: "broad", Match: authz.Match{PathPrefix: "/webhooks"}, Verifier: &stubVerifier{}},
		&authz.Endpoint{Name: "params", Match: authz.Match{PathPrefix: "/params", PathParameters: true}, Verifier: &stubVerifier{}},
	)
	for _, tt := range []struct {
		path     string
		endpoint string
		reason   authz.Reason
	}{
		{"/webhooks/github", "github", authz.OK},
		{"/webhooks/other", "broad", authz.OK},
		{"/webhooks", "broad", authz.OK},
		{"/params/x;v=1", "params", authz.OK},

		// Near misses of the strict endpoint.
		{"/webhooks/GitHub", "", authz.NonCanonicalRequest},
		{"/webhooks/github.", "", authz.NonCanonicalRequest},
		{"/webhooks/github%20", "", authz.NonCanonicalRequest},
		{"/webhooks/github/", "", authz.NonCanonicalRequest},
		{"/WEBHOOKS/other", "", authz.NonCanonicalRequest},
		// Not canonical at all.
		{"/webhooks/github;x=1", "github", authz.NonCanonicalRequest},
		{"/webhooks//github", "", authz.NonCanonicalRequest},
		{"/webhooks/x/../github", "", authz.NonCanonicalRequest},
		{"/webhooks/%67ithub", "", authz.NonCanonicalRequest},
		{"/webhooks/x%2F..%2Fgithub", "", authz.NonCanonicalRequest},
		{"/webhooks\\github", "", authz.NonCanonicalRequest},
		{"/webhooks/github\x00", "", authz.NonCanonicalRequest},
	} {
		d := a.Check(context.Background(), &authz.Request{Method: "POST", Host: "hooks.example.com", Path: tt.path, Header: authz.Header{"x-sig": "good"}})
		if d.Endpoint != tt.endpoint || d.Reason != tt.reason {
			t.Errorf("%q: got %q %s (%s), want %q %s", tt.path, d.Endpoint, d.Reason, d.Detail, tt.endpoint, tt.reason)
		}
		if ans := d.Answer(); tt.reason == authz.NonCanonicalRequest && (ans.Forward || ans.Status != 400 || d.Detail == "") {
			t.Errorf("%q: forward=%v status=%d detail=%q, want a 400 denial that says why", tt.path, ans.Forward, ans.Status, d.Detail)
		}
	}
}

// TestCanonicalHostSelection: a host-specific ENFORCE endpoint beside an
// any-host DRY_RUN one. Spellings of the host that mean the same name
// select the strict endpoint; malformed authorities are refused, never
// passed to the DRY_RUN endpoint.
func TestCanonicalHostSelection(t *testing.T) {
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}),
		&authz.Endpoint{Name: "strict", Match: authz.Match{Hosts: []string{"hooks.example.com"}, PathPrefix: "/hook"}, Verifier: &stubVerifier{}},
		&authz.Endpoint{Name: "dry", Match: authz.Match{PathPrefix: "/hook"}, Verifier: &stubVerifier{}, DryRun: true},
	)
	for _, tt := range []struct {
		host     string
		endpoint string
		reason   authz.Reason
	}{
		{"hooks.example.com", "strict", authz.SignatureInvalid},
		{"hooks.example.com.", "strict", authz.SignatureInvalid},
		{"HOOKS.example.com:443", "strict", authz.SignatureInvalid},
		{"hooks.example.com.:443", "strict", authz.SignatureInvalid},
		{"other.example.com", "dry", authz.SignatureInvalid},
		{"hooks.example.com:443:443", "", authz.NonCanonicalRequest},
		{"evil@hooks.example.com", "", authz.NonCanonicalRequest},
		{"hooks%2Eexample.com", "", authz.NonCanonicalRequest},
		{"hooks..example.com", "", authz.NonCanonicalRequest},
	} {
		d := a.Check(context.Background(), &authz.Request{Method: "POST", Host: tt.host, Path: "/hook", Header: authz.Header{"x-sig": "forged"}})
		if d.Endpoint != tt.endpoint || d.Reason != tt.reason {
			t.Errorf("%q: got %q %s, want %q %s", tt.host, d.Endpoint, d.Reason, tt.endpoint, tt.reason)
		}
		if d.Endpoint != "dry" && d.Answer().Forward {
			t.Errorf("%q: forwarded a forged request", tt.host)
		}
	}
}

// TestBodyNotForwardedIsNeverVerified: a request that declares a body Envoy
// did not send is refused before any verifier sees the empty body.
func TestBodyNotForwardedIsNeverVerified(t *testing.T) {
	v := &stubVerifier{}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}),
		&authz.Endpoint{Name: "hooks", Match: authz.Match{PathPrefix: "/hooks"}, Verifier: v})
	d := a.Check(context.Background(), &authz.Request{Method: "POST", Host: "h", Path: "/hooks",
		Header: authz.Header{"x-sig": "good", "content-length": "42"}})
	if ans := d.Answer(); ans.Forward || d.Reason != authz.BodyNotForwarded || ans.Status != 503 {
		t.Fatalf("got forward=%v %s %d, want a 503 body_not_forwarded denial", ans.Forward, d.Reason, ans.Status)
	}
	if n := v.calls.Load(); n != 0 {
		t.Errorf("the verifier ran %d times over a body that was not forwarded", n)
	}
}
