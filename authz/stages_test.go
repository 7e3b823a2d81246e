package authz_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go4.org/netipx"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/replay"
)

func ipset(t testing.TB, cidrs ...string) *netipx.IPSet {
	t.Helper()
	var b netipx.IPSetBuilder
	for _, c := range cidrs {
		b.AddPrefix(netip.MustParsePrefix(c))
	}
	s, err := b.IPSet()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func from(addr string, r *authz.Request) *authz.Request {
	if addr != "" {
		r.Source = netip.AddrPortFrom(netip.MustParseAddr(addr), 40000)
	}
	return r
}

func TestSourceStage(t *testing.T) {
	ep := &authz.Endpoint{Name: "src", Match: authz.Match{PathPrefix: "/"}, Verifier: &stubVerifier{},
		Source: &authz.SourcePolicy{
			Allow: ipset(t, "192.0.2.0/24", "198.51.100.0/22", "2001:db8::/32"),
			// Overlapping: a hole in an allowed range.
			Deny: ipset(t, "192.0.2.128/25", "2001:db8:dead::/48"),
		}}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}), ep)
	for _, tt := range []struct {
		addr string
		want authz.Reason
	}{
		{"192.0.2.1", authz.OK},
		{"192.0.2.127", authz.OK},
		{"192.0.2.128", authz.SourceNotAllowed}, // deny wins
		{"198.51.103.255", authz.OK},
		{"198.51.104.0", authz.SourceNotAllowed},
		{"::ffff:192.0.2.1", authz.OK}, // v4-mapped is the v4 address
		{"2001:db8:1::1", authz.OK},
		{"2001:db8:dead:beef::1", authz.SourceNotAllowed},
		{"2001:db9::1", authz.SourceNotAllowed},
		{"127.0.0.1", authz.SourceNotAllowed},
		{"", authz.SourceNotAllowed}, // unknown source
	} {
		d := a.Check(context.Background(), from(tt.addr, post("/x", authz.Header{"x-sig": "good"}, tt.addr)))
		if d.Reason != tt.want {
			t.Errorf("%q: %s, want %s", tt.addr, d.Reason, tt.want)
		}
	}
}

// Stages run cheapest first: a denied source never reaches the verifier.
func TestStagesRunBeforeSignature(t *testing.T) {
	v := &stubVerifier{}
	limiter := ratelimit.NewMemory()
	ep := &authz.Endpoint{Name: "order", Match: authz.Match{PathPrefix: "/"}, Verifier: v,
		Source:    &authz.SourcePolicy{Allow: ipset(t, "10.0.0.0/8")},
		Identity:  &authz.IdentityPolicy{},
		RateLimit: &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 1, Burst: 1}, PerSource: true},
	}
	p, _ := authz.NewPolicy("r", []*authz.Endpoint{ep})
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 10}), Limiter: limiter, Clock: &fakeClock{now: time.Unix(1e9, 0)}})
	a.SetPolicy(p)
	ctx := context.Background()
	steps := []struct {
		r    *authz.Request
		want authz.Reason
	}{
		{from("192.0.2.1", post("/", authz.Header{"x-sig": "good"}, "1")), authz.SourceNotAllowed},
		{from("10.0.0.1", post("/", authz.Header{"x-sig": "good"}, "2")), authz.ClientCertificateRequired},
		{from("10.0.0.1", withPrincipal(post("/", authz.Header{"x-sig": "good"}, "3"))), authz.OK},
		{from("10.0.0.1", withPrincipal(post("/", authz.Header{"x-sig": "good"}, "4"))), authz.RateLimited},
	}
	for i, s := range steps {
		if d := a.Check(ctx, s.r); d.Reason != s.want {
			t.Fatalf("step %d: %s, want %s", i, d.Reason, s.want)
		}
	}
	if n := v.calls.Load(); n != 1 {
		t.Fatalf("verifier ran %d times; only the request that passed source, identity and rate limit may reach it", n)
	}
}

func withPrincipal(r *authz.Request) *authz.Request {
	r.Principal = "spiffe://example.org/ns/ci/sa/github"
	return r
}

// testCert issues a self-signed client certificate with the given SANs and
// returns it URL-encoded as Envoy sends it, and its SHA-256 fingerprint.
func testCert(t testing.TB, dns []string, uris []string) (string, [32]byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: dns}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pemText := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return url.PathEscape(string(pemText)), sha256.Sum256(der)
}

func TestIdentityStage(t *testing.T) {
	cert, fp := testCert(t, []string{"Sender.Example.com"}, []string{"spiffe://partner.example/sender"})
	other, _ := testCert(t, []string{"other.example.com"}, nil)
	tests := []struct {
		name      string
		policy    authz.IdentityPolicy
		principal string
		cert      string
		want      authz.Reason
	}{
		{"no certificate", authz.IdentityPolicy{}, "", "", authz.ClientCertificateRequired},
		{"any certificate", authz.IdentityPolicy{}, "spiffe://x/y", "", authz.OK},
		{"exact principal", authz.IdentityPolicy{Principals: []string{"spiffe://example.org/ns/ci/sa/github"}}, "spiffe://example.org/ns/ci/sa/github", "", authz.OK},
		{"exact principal mismatch", authz.IdentityPolicy{Principals: []string{"spiffe://example.org/ns/ci/sa/github"}}, "spiffe://example.org/ns/ci/sa/gitlab", "", authz.ClientIdentityDenied},
		{"prefix", authz.IdentityPolicy{PrincipalPrefixes: []string{"spiffe://example.org/ns/ci/"}}, "spiffe://example.org/ns/ci/sa/any", "", authz.OK},
		{"prefix mismatch", authz.IdentityPolicy{PrincipalPrefixes: []string{"spiffe://example.org/ns/ci/"}}, "spiffe://example.org/ns/prod/sa/any", "", authz.ClientIdentityDenied},
		{"trust domain", authz.IdentityPolicy{TrustDomains: []string{"example.org"}}, "spiffe://example.org/anything", "", authz.OK},
		{"trust domain is not a suffix match", authz.IdentityPolicy{TrustDomains: []string{"example.org"}}, "spiffe://evil-example.org/x", "", authz.ClientIdentityDenied},
		{"trust domain needs spiffe", authz.IdentityPolicy{TrustDomains: []string{"example.org"}}, "example.org", "", authz.ClientIdentityDenied},
		{"dns SAN", authz.IdentityPolicy{DNSSANs: []string{"sender.example.com"}}, "sender.example.com", cert, authz.OK},
		{"dns SAN other cert", authz.IdentityPolicy{DNSSANs: []string{"sender.example.com"}}, "other.example.com", other, authz.ClientIdentityDenied},
		{"uri SAN", authz.IdentityPolicy{URISANs: []string{"spiffe://partner.example/sender"}}, "x", cert, authz.OK},
		{"SAN rule without certificate", authz.IdentityPolicy{DNSSANs: []string{"sender.example.com"}}, "sender.example.com", "", authz.ClientCertificateRequired},
		{"pinned fingerprint", authz.IdentityPolicy{Fingerprints: map[[32]byte]struct{}{fp: {}}}, "x", cert, authz.OK},
		{"unpinned certificate", authz.IdentityPolicy{Fingerprints: map[[32]byte]struct{}{fp: {}}}, "x", other, authz.ClientIdentityDenied},
		{"pin and identity both needed", authz.IdentityPolicy{Fingerprints: map[[32]byte]struct{}{fp: {}}, Principals: []string{"someone-else"}}, "x", cert, authz.ClientIdentityDenied},
		{"garbage certificate", authz.IdentityPolicy{Fingerprints: map[[32]byte]struct{}{fp: {}}}, "x", "not%20a%20cert", authz.ClientIdentityDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := tt.policy
			a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}), &authz.Endpoint{Name: "m", Match: authz.Match{PathPrefix: "/"}, Verifier: &stubVerifier{}, Identity: &policy})
			r := post("/", authz.Header{"x-sig": "good"}, tt.name)
			r.Principal, r.Certificate = tt.principal, tt.cert
			if d := a.Check(context.Background(), r); d.Reason != tt.want {
				t.Fatalf("%s, want %s (%s)", d.Reason, tt.want, d.Detail)
			}
		})
	}
}

func TestRateLimitStage(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	ep := &authz.Endpoint{Name: "rl", Match: authz.Match{PathPrefix: "/"}, Verifier: &stubVerifier{},
		RateLimit: &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 2, Burst: 3}, PerSource: true}}
	p, _ := authz.NewPolicy("r", []*authz.Endpoint{ep})
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 100}), Limiter: ratelimit.NewMemory(), Clock: clock})
	a.SetPolicy(p)
	ctx := context.Background()
	n := 0
	send := func(src string) authz.Decision {
		n++
		return a.Check(ctx, from(src, post("/", authz.Header{"x-sig": "good"}, strings.Repeat("x", n))))
	}
	for i := 0; i < 3; i++ {
		if d := send("192.0.2.1"); d.Reason != authz.OK {
			t.Fatalf("burst request %d: %s", i, d.Reason)
		}
	}
	d := send("192.0.2.1")
	if d.Reason != authz.RateLimited || d.Answer().Status != 429 || d.RetryAfterSeconds != 1 {
		t.Fatalf("over the burst: %+v", d)
	}
	want := map[string]string{"content-type": "application/json", "retry-after": "1",
		"ratelimit-policy": `"source";q=3;w=2`, "ratelimit": `"source";r=0;t=1`}
	for _, h := range d.Answer().Header {
		if want[h.Name] != h.Value {
			t.Errorf("header %s: %q, want %q", h.Name, h.Value, want[h.Name])
		}
		delete(want, h.Name)
	}
	if len(want) != 0 {
		t.Errorf("missing headers %v", want)
	}
	// Another source has its own bucket; an IPv6 /64 shares one.
	if d := send("192.0.2.2"); d.Reason != authz.OK {
		t.Fatalf("other source: %s", d.Reason)
	}
	for i := 0; i < 3; i++ {
		send("2001:db8::" + string(rune('1'+i)))
	}
	if d := send("2001:db8::ffff"); d.Reason != authz.RateLimited {
		t.Fatalf("same /64: %s", d.Reason)
	}
	// Refill: 2 tokens a second.
	clock.now = clock.now.Add(500 * time.Millisecond)
	if d := send("192.0.2.1"); d.Reason != authz.OK {
		t.Fatalf("after 500ms refill: %s", d.Reason)
	}
	if d := send("192.0.2.1"); d.Reason != authz.RateLimited {
		t.Fatalf("one token refilled, two taken: %s", d.Reason)
	}
}

func TestRateLimitWithoutLimiterFailsClosed(t *testing.T) {
	ep := &authz.Endpoint{Name: "rl", Match: authz.Match{PathPrefix: "/"}, Verifier: &stubVerifier{},
		RateLimit: &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 1, Burst: 1}, PerEndpoint: true}}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}), ep)
	if d := a.Check(context.Background(), post("/", authz.Header{"x-sig": "good"}, "")); d.Reason != authz.Unavailable {
		t.Fatalf("%s", d.Reason)
	}
}

func compileSchema(t testing.TB, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AddResource("mem://schema.json", doc)
	s, err := c.Compile("mem://schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPayloadStage(t *testing.T) {
	push := compileSchema(t, `{"type":"object","required":["ref"],"properties":{"ref":{"type":"string"},"commits":{"type":"array","items":{"type":"object","properties":{"id":{"type":"string","maxLength":40}}}}}}`)
	fallback := compileSchema(t, `{"type":"object","required":["action"]}`)
	ep := &authz.Endpoint{Name: "pl", Match: authz.Match{PathPrefix: "/"}, Verifier: &stubVerifier{}, ReplayTTL: time.Minute,
		Payload: &authz.PayloadPolicy{MaxBytes: 200, ContentTypes: []string{"application/json"}, JSON: true, MaxDepth: 4,
			Schemas: &authz.SchemaSet{Header: "x-github-event", ByValue: map[string]*jsonschema.Schema{"push": push}, Default: fallback}}}
	store := replay.NewMemory(replay.MemoryConfig{Capacity: 100})
	a := newAuthorizer(t, store, ep)
	json := authz.Header{"x-sig": "good", "content-type": "application/json; charset=utf-8"}
	with := func(h authz.Header, k, v string) authz.Header {
		out := authz.Header{}
		for a, b := range h {
			out[a] = b
		}
		out[k] = v
		return out
	}
	tests := []struct {
		name    string
		header  authz.Header
		body    string
		want    authz.Reason
		pointer string
	}{
		{"valid push", with(json, "x-github-event", "push"), `{"ref":"main","commits":[{"id":"abc"}]}`, authz.OK, ""},
		{"valid other event, default schema", with(json, "x-github-event", "issues"), `{"action":"opened"}`, authz.OK, ""},
		{"no event header, default schema", json, `{"ref":"main"}`, authz.SchemaViolation, ""},
		{"push violates nested", with(json, "x-github-event", "push"), `{"ref":"main","commits":[{"id":"` + strings.Repeat("a", 41) + `"}]}`, authz.SchemaViolation, "/commits/0/id"},
		{"push wrong type", with(json, "x-github-event", "push"), `{"ref":42}`, authz.SchemaViolation, "/ref"},
		{"too large", json, `{"ref":"` + strings.Repeat("a", 300) + `"}`, authz.BodyTooLarge, ""},
		{"no content type", authz.Header{"x-sig": "good"}, `{"action":"x"}`, authz.UnsupportedMediaType, ""},
		{"form content type", with(json, "content-type", "application/x-www-form-urlencoded"), `a=b`, authz.UnsupportedMediaType, ""},
		{"content type case and params", with(json, "content-type", "Application/JSON;charset=UTF-8"), `{"action":"y"}`, authz.OK, ""},
		{"malformed json", json, `{"action":`, authz.MalformedPayload, ""},
		{"trailing garbage", json, `{"action":"z"} x`, authz.MalformedPayload, ""},
		{"invalid utf-8", json, "{\"action\":\"\xff\"}", authz.MalformedPayload, ""},
		{"too deep", json, `{"a":[[[[1]]]]}`, authz.MalformedPayload, ""},
		{"brackets in strings do not count", json, `{"action":"[[[[[[[[{{{{"}`, authz.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := a.Check(context.Background(), post("/", tt.header, tt.body))
			if d.Reason != tt.want || d.Pointer != tt.pointer {
				t.Fatalf("%s at %q, want %s at %q (%s)", d.Reason, d.Pointer, tt.want, tt.pointer, d.Detail)
			}
			if strings.Contains(d.Detail, "aaaa") {
				t.Errorf("detail echoes payload values: %q", d.Detail)
			}
		})
	}
	// Payload failures come before the nonce: a rejected delivery is not
	// remembered, so the provider's corrected retry is not a replay.
	if n := store.Len(); n != 4 {
		t.Errorf("replay store holds %d deliveries, want the 4 allowed ones", n)
	}
}

func TestPayloadStageRunsAfterSignature(t *testing.T) {
	ep := &authz.Endpoint{Name: "pl", Match: authz.Match{PathPrefix: "/"}, Verifier: &stubVerifier{},
		Payload: &authz.PayloadPolicy{JSON: true}}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}), ep)
	// An unauthenticated sender learns nothing about the payload rules.
	if d := a.Check(context.Background(), post("/", authz.Header{"x-sig": "bad"}, "not json")); d.Reason != authz.SignatureInvalid {
		t.Fatalf("%s", d.Reason)
	}
}

// nopVerifier accepts everything at no cost, so stage costs stand out.
type nopVerifier struct{}

func (nopVerifier) Scheme() string { return "nop" }
func (nopVerifier) Verify(*authz.Request, time.Time) (authz.Verified, error) {
	return authz.Verified{}, nil
}

// BenchmarkStages measures each stage's cost per request: the same request
// through an endpoint with no stage, then with one stage at a time (the
// verifier is a stub, replay is off, so the difference is the stage).
func BenchmarkStages(b *testing.B) {
	cert, fp := testCert(b, []string{"sender.example.com"}, nil)
	body := []byte(`{"ref":"refs/heads/main","commits":[` + strings.Repeat(`{"id":"0123456789abcdef","message":"fix"},`, 60) + `{"id":"x"}]}`)
	schema := compileSchema(b, `{"type":"object","required":["ref"],"properties":{"ref":{"type":"string"},"commits":{"type":"array","items":{"type":"object","required":["id"]}}}}`)
	var cidrs []string
	for i := 0; i < 1000; i++ { // a provider's list of ranges
		cidrs = append(cidrs, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24).String())
	}
	cases := []struct {
		name string
		ep   authz.Endpoint
	}{
		{"none", authz.Endpoint{}},
		{"source-1000-cidrs", authz.Endpoint{Source: &authz.SourcePolicy{Allow: ipset(b, cidrs...)}}},
		{"identity-principal", authz.Endpoint{Identity: &authz.IdentityPolicy{TrustDomains: []string{"example.org"}}}},
		{"identity-certificate-pin", authz.Endpoint{Identity: &authz.IdentityPolicy{Fingerprints: map[[32]byte]struct{}{fp: {}}}}},
		{"rate-limit-source", authz.Endpoint{RateLimit: &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 1e9, Burst: 1 << 30}, PerSource: true}}},
		// per: [source, endpoint] as compiled: the failure budget's peek,
		// the source's token, and the endpoint's after the signature.
		{"rate-limit-source-endpoint-failures", authz.Endpoint{RateLimit: &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 1e9, Burst: 1 << 30}, PerSource: true, PerEndpoint: true,
			Failures: &authz.Limit{Rate: 1e9, Burst: 1 << 30}}}},
		{"payload-json-" + strconv.Itoa(len(body)) + "B", authz.Endpoint{Payload: &authz.PayloadPolicy{JSON: true, ContentTypes: []string{"application/json"}}}},
		{"payload-schema-" + strconv.Itoa(len(body)) + "B", authz.Endpoint{Payload: &authz.PayloadPolicy{Schemas: &authz.SchemaSet{Default: schema}}}},
	}
	for _, c := range cases {
		ep := c.ep
		ep.Name, ep.Match, ep.Verifier = "bench", authz.Match{PathPrefix: "/"}, nopVerifier{}
		p, err := authz.NewPolicy("bench", []*authz.Endpoint{&ep})
		if err != nil {
			b.Fatal(err)
		}
		a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 10}), Limiter: ratelimit.NewMemory(), Clock: &fakeClock{now: time.Unix(1e9, 0)}})
		a.SetPolicy(p)
		r := from("10.0.1.7", post("/", authz.Header{"x-sig": "good", "content-type": "application/json"}, string(body)))
		r.Principal, r.Certificate = "spiffe://example.org/ns/ci/sa/github", cert
		if d := a.Check(context.Background(), r); d.Reason != authz.OK {
			b.Fatalf("%s: %s %s", c.name, d.Reason, d.Detail)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Check(context.Background(), r)
			}
		})
	}
}
