package webhooktest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/hookguard/hookguard/authz/internal/extauthz"
	"github.com/hookguard/hookguard/authz/verify"
)

var t0 = time.Unix(1_750_000_000, 0)

// TestEveryScheme: the table has an endpoint for every registered scheme,
// so a new scheme is attacked as soon as it exists.
func TestEveryScheme(t *testing.T) {
	have := Schemes()
	for _, s := range verify.All() {
		if !slices.Contains(have, s.Name) {
			t.Errorf("scheme %s has no endpoint in webhooktest: add a row to endpoints()", s.Name)
		}
	}
	if len(have) != len(verify.All()) {
		t.Errorf("%d endpoints for %d schemes", len(have), len(verify.All()))
	}
	seen := map[string]bool{}
	for _, s := range AllSecrets() {
		if seen[s] {
			t.Errorf("secret %q is shared", s)
		}
		seen[s] = true
	}
}

func newServer(t *testing.T) *extauthz.Server {
	t.Helper()
	p, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return extauthz.NewServer(NewAuthorizer(p, NewClock(t0.Add(time.Second))), extauthz.Config{})
}

func reason(resp *authv3.CheckResponse) string {
	return resp.GetDynamicMetadata().GetFields()["reason"].GetStringValue()
}

// TestDeliveriesAllowed: every delivery is allowed once, by its endpoint,
// and replayed the second time; every handshake is answered.
func TestDeliveriesAllowed(t *testing.T) {
	s := newServer(t)
	for _, e := range Endpoints() {
		t.Run(e.Name, func(t *testing.T) {
			d, err := e.Delivery(t0, "d-"+e.Name)
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := s.Check(context.Background(), d.Request)
			if resp.GetOkResponse() == nil || reason(resp) != "ok" {
				t.Fatalf("valid delivery: %v", resp)
			}
			if got := resp.GetDynamicMetadata().GetFields()["endpoint"].GetStringValue(); got != e.Name {
				t.Fatalf("endpoint %q", got)
			}
			scheme, _ := verify.Lookup(e.Scheme)
			resp, _ = s.Check(context.Background(), d.Request)
			if replayed := reason(resp) == "replayed"; replayed != scheme.Replayable {
				t.Fatalf("second delivery: %v; the scheme is replayable: %v", reason(resp), scheme.Replayable)
			}
			if len(d.Signatures) == 0 || slices.Contains(d.Signatures, "") {
				t.Fatalf("signatures %q", d.Signatures)
			}
			if resp, _ := s.Check(context.Background(), d.Forged()); reason(resp) != "signature_invalid" {
				t.Fatalf("forged: %v", reason(resp))
			}
			hs, ok := e.Handshake(t0)
			if ok != scheme.Handshakes {
				t.Fatalf("a handshake: %v; the scheme has one: %v", ok, scheme.Handshakes)
			}
			if ok {
				resp, _ := s.Check(context.Background(), hs.Request)
				if reason(resp) != "handshake" {
					t.Fatalf("handshake: %v", resp)
				}
			}
		})
	}
}

// TestCovered: the covered content is the same for two spellings of one
// delivery and differs when what the signature covers changes, so the
// fuzz oracle can fail.
func TestCovered(t *testing.T) {
	for _, e := range Endpoints() {
		t.Run(e.Name, func(t *testing.T) {
			d, _ := e.Delivery(t0, "d-1")
			base := Covered(e.Verified, ViewOf(d.Request))
			same := d.Clone()
			h := same.GetAttributes().GetRequest().GetHttp()
			for _, name := range SignatureHeaders(e.Verified) {
				switch e.Scheme {
				case "token", "basic_auth":
				case "stripe":
					h.Headers[name] += ",v0=other"
				case "paddle":
					h.Headers[name] += ";h0=other"
				default:
					h.Headers[name] = "changed"
				}
			}
			h.Headers["x-unrelated"] = "1"
			if got := Covered(e.Verified, ViewOf(same)); got != base {
				t.Errorf("a changed signature or unrelated header changes the covered content")
			}
			other, _ := e.Delivery(t0, "d-2")
			if Covered(e.Verified, ViewOf(other.Request)) == base && e.Scheme != "token" && e.Scheme != "basic_auth" {
				t.Errorf("another delivery has the same covered content")
			}
			later, _ := e.Delivery(t0.Add(time.Second), "d-1")
			timed := map[string]bool{"github": false, "token": false, "shopify": false, "meta": false, "pagerduty": false, "square": false,
				"twilio": false, "twitter": false, "basic_auth": false}
			_, untimed := timed[e.Verified]
			if Covered(e.Verified, ViewOf(later.Request)) == base && !untimed {
				t.Errorf("another timestamp has the same covered content")
			}
		})
	}
}

func TestCanonicalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/webhooks/github": true, "/webhooks/github/": true, "/a/%C3%A9": true, "/a/%25": true,
		"/a:b@c!$&'()*+,=": true,
		"":                 false, "webhooks": false, "//webhooks": false, "/a//b": false, "/a/./b": false, "/a/../b": false,
		"/a/.": false, "/a/..": false, "/a%2Fb": false, "/a%2fb": false, "/%67ithub": false, "/a%5Cb": false, "/a%00": false,
		"/a%c3%a9": false, "/a%": false, "/a%4": false, "/a b": false, "/a\\b": false, "/a;x=1": false, "/a\x00": false,
		"/a\x7f": false, "/é": false, "/" + strings.Repeat("a", 2048): false,
	} {
		if got := CanonicalPath(p); got != want {
			t.Errorf("CanonicalPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestCanonicalAuthority(t *testing.T) {
	for a, want := range map[string]bool{
		"": true, "hooks.example.com": true, "HOOKS.example.com.": true, "hooks.example.com:443": true, "a_b.c": true,
		"hooks.example.com:443:443": false, "hooks..example.com": false, "user@hooks.example.com": false,
		"hooks.example.com:": false, "hooks.example.com:x": false, "hooks.example.com:65536": false, "hooks%2Eexample.com": false,
		".": false, "hooks.example.com..": false, strings.Repeat("a", 64) + ".com": false,
	} {
		if got, ok := CanonicalAuthority(a); !ok || got != want {
			t.Errorf("CanonicalAuthority(%q) = %v, %v; want %v", a, got, ok, want)
		}
	}
	if _, ok := CanonicalAuthority("[::1]:443"); ok {
		t.Error("IPv6 literals are left out")
	}
}

func TestFoldPath(t *testing.T) {
	for p, want := range map[string]string{
		"/webhooks/GitHub": "/webhooks/github", "/webhooks/github.": "/webhooks/github", "/webhooks/github%20": "/webhooks/github",
		"/webhooks/github/": "/webhooks/github", "/webhooks/github.%20./x/": "/webhooks/github/x", "/": "/", "/a%20b": "/a%20b",
	} {
		if got := FoldPath(p); got != want {
			t.Errorf("FoldPath(%q) = %q, want %q", p, got, want)
		}
	}
	for a, want := range map[string]string{"HOOKS.example.com.:443": "hooks.example.com", "hooks.example.com": "hooks.example.com"} {
		if got, ok := CanonicalHost(a); !ok || got != want {
			t.Errorf("CanonicalHost(%q) = %q, %v", a, got, ok)
		}
	}
	if _, ok := CanonicalHost("a:1:2"); ok {
		t.Error("CanonicalHost accepts several ports")
	}
	if m := Lookup("meta").Methods(); len(m) != 2 || m[0] != "GET" {
		t.Errorf("meta methods %q", m)
	}
}
