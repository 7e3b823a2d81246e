package authz_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
)

func TestEndpointSelection(t *testing.T) {
	ep := func(name string, m authz.Match) *authz.Endpoint {
		return &authz.Endpoint{Name: name, Match: m, Verifier: &stubVerifier{}}
	}
	eps := []*authz.Endpoint{
		// Listed least specific first: selection must not depend on order.
		ep("catch-all", authz.Match{PathPrefix: "/"}),
		ep("hooks", authz.Match{PathPrefix: "/hooks"}),
		ep("hooks-github", authz.Match{PathPrefix: "/hooks/github"}),
		ep("hooks-github-exact", authz.Match{Path: "/hooks/github/exact"}),
		ep("tenant-wild", authz.Match{Hosts: []string{"*.tenants.example.com"}, PathPrefix: "/hooks/github"}),
		ep("tenant-a", authz.Match{Hosts: []string{"a.tenants.example.com"}, PathPrefix: "/hooks/github"}),
		ep("reads", authz.Match{Path: "/reads", Methods: []string{"GET", "HEAD"}}),
		ep("named-only", authz.Match{}),
	}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}), eps...)
	tests := []struct {
		method, host, path string
		ext                map[string]string
		want               string
		reason             authz.Reason
	}{
		{"POST", "hooks.example.com", "/hooks/github/exact", nil, "hooks-github-exact", authz.OK},
		{"POST", "hooks.example.com", "/hooks/github/exact/more", nil, "hooks-github", authz.OK},
		{"POST", "hooks.example.com", "/hooks/github", nil, "hooks-github", authz.OK},
		{"POST", "hooks.example.com", "/hooks/githubx", nil, "hooks", authz.OK},
		{"POST", "hooks.example.com", "/hooks", nil, "hooks", authz.OK},
		{"POST", "hooks.example.com", "/elsewhere", nil, "catch-all", authz.OK},
		{"POST", "a.tenants.example.com", "/hooks/github", nil, "tenant-a", authz.OK},
		{"POST", "A.Tenants.Example.com:443", "/hooks/github", nil, "tenant-a", authz.OK},
		{"POST", "b.tenants.example.com", "/hooks/github/x", nil, "tenant-wild", authz.OK},
		{"POST", "tenants.example.com", "/hooks/github", nil, "hooks-github", authz.OK},
		{"GET", "x", "/reads", nil, "reads", authz.OK},
		{"POST", "x", "/reads", nil, "catch-all", authz.OK},
		{"DELETE", "x", "/hooks", nil, "hooks", authz.MethodNotAllowed},
		{"POST", "x", "/anything", map[string]string{authz.EndpointExtension: "named-only"}, "named-only", authz.OK},
		{"POST", "x", "/hooks", map[string]string{authz.EndpointExtension: "missing"}, "", authz.NoEndpoint},
		{"PUT", "x", "/hooks", map[string]string{authz.EndpointExtension: "hooks"}, "hooks", authz.MethodNotAllowed},
	}
	for _, tt := range tests {
		r := &authz.Request{Method: tt.method, Host: tt.host, Path: tt.path, ContextExtensions: tt.ext, Header: authz.Header{"x-sig": "good"}}
		d := a.Check(context.Background(), r)
		if d.Endpoint != tt.want || d.Reason != tt.reason {
			t.Errorf("%s %s%s ext=%v: got %q %s, want %q %s", tt.method, tt.host, tt.path, tt.ext, d.Endpoint, d.Reason, tt.want, tt.reason)
		}
	}
}

func TestNoMatchAndNamedOnly(t *testing.T) {
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}),
		&authz.Endpoint{Name: "named-only", Verifier: &stubVerifier{}},
		&authz.Endpoint{Name: "host-only", Match: authz.Match{Hosts: []string{"hooks.example.com"}}, Verifier: &stubVerifier{}},
	)
	for _, tt := range []struct{ host, want string }{{"other.example.com", ""}, {"hooks.example.com", "host-only"}} {
		d := a.Check(context.Background(), &authz.Request{Method: "POST", Host: tt.host, Path: "/x", Header: authz.Header{"x-sig": "good"}})
		if d.Endpoint != tt.want {
			t.Errorf("host %s: got endpoint %q (%s), want %q", tt.host, d.Endpoint, d.Reason, tt.want)
		}
	}
}

func TestNewPolicyRefusesBadEndpoints(t *testing.T) {
	v := &stubVerifier{}
	for name, eps := range map[string][]*authz.Endpoint{
		"no name":     {{Verifier: v}},
		"no verifier": {{Name: "a"}},
		"duplicate":   {{Name: "a", Verifier: v}, {Name: "a", Verifier: v}},
	} {
		if _, err := authz.NewPolicy("r", eps); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReasonStatuses(t *testing.T) {
	want := map[authz.Reason]int{
		authz.OK: 200, authz.NoEndpoint: 404, authz.MethodNotAllowed: 405,
		authz.SignatureMissing: 401, authz.SignatureInvalid: 401, authz.TimestampOutOfWindow: 401,
		authz.Replayed: 409, authz.BodyTruncated: 413, authz.Handshake: 200, authz.Unavailable: 503,
		authz.SourceNotAllowed: 403, authz.ClientCertificateRequired: 401, authz.ClientIdentityDenied: 403,
		authz.RateLimited: 429, authz.BodyTooLarge: 413, authz.UnsupportedMediaType: 415,
		authz.MalformedPayload: 400, authz.SchemaViolation: 422,
		authz.NonCanonicalRequest: 400, authz.BodyNotForwarded: 503,
	}
	for _, r := range authz.Reasons() {
		if got, ok := want[r]; !ok || r.Status() != got {
			t.Errorf("%s: status %d, want %d (listed: %v)", r, r.Status(), got, ok)
		}
	}
	if len(authz.Reasons()) != len(want) {
		t.Errorf("Reasons() has %d, table %d", len(authz.Reasons()), len(want))
	}
	if authz.Reason("made_up").Status() != 503 {
		t.Error("an unknown reason must fail closed with 503")
	}
}

func TestNonceKey(t *testing.T) {
	a := authz.NewNonceKey("ab", []byte("c"))
	if a == authz.NewNonceKey("a", []byte("bc")) {
		t.Error("endpoint and key boundaries collide")
	}
	if a != authz.NewNonceKey("ab", []byte("c")) {
		t.Error("not deterministic")
	}
	long := make([]byte, 4096)
	if authz.NewNonceKey("x", long) == authz.NewNonceKey("x", long[:4095]) {
		t.Error("long keys collide")
	}
}

func TestSecretNeverFormats(t *testing.T) {
	s := authz.Secret("hunter2")
	for _, f := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d"} {
		if got := sprintf(f, s); got != "[redacted]" {
			t.Errorf("%s formats a secret as %q", f, got)
		}
	}
	if got := sprintf("%v", []authz.Secret{s}); got != "[[redacted]]" {
		t.Errorf("a list of secrets formats as %q", got)
	}
}

func TestUnknownNamedEndpointDetail(t *testing.T) {
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}),
		&authz.Endpoint{Name: "hooks", Match: authz.Match{PathPrefix: "/hooks"}, Verifier: &stubVerifier{}})
	check := func(ext map[string]string) authz.Decision {
		return a.Check(context.Background(), &authz.Request{Method: "POST", Path: "/hooks", ContextExtensions: ext})
	}
	d := check(map[string]string{authz.EndpointExtension: "gthub"})
	if d.Reason != authz.NoEndpoint || d.Endpoint != "" || !strings.Contains(d.Detail, `"gthub"`) {
		t.Errorf("unknown name: %s endpoint %q detail %q, want no_endpoint naming \"gthub\"", d.Reason, d.Endpoint, d.Detail)
	}
	long := strings.Repeat("n", 10_000)
	if d := check(map[string]string{authz.EndpointExtension: long}); len(d.Detail) > 200 || !strings.Contains(d.Detail, strings.Repeat("n", 64)) {
		t.Errorf("a long name gives a %d-byte detail: %.100q", len(d.Detail), d.Detail)
	}
	if d := check(map[string]string{authz.EndpointExtension: "bad\nname"}); strings.Contains(d.Detail, "\n") {
		t.Errorf("the detail carries a raw newline: %q", d.Detail)
	}
	// An unknown path is no_endpoint with nothing to add.
	if d := a.Check(context.Background(), &authz.Request{Method: "POST", Path: "/nope"}); d.Reason != authz.NoEndpoint || d.Detail != "" {
		t.Errorf("unknown path: %s detail %q", d.Reason, d.Detail)
	}
}
