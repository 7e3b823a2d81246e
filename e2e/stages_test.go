package e2e

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/e2e/stack"
)

// stagesPolicy exercises the stages that decide who may send, how much and
// what, before and after the signature.
const stagesPolicy = `
endpoints:
  # Reached through the Envoy route that names it (context extension).
  - name: partner
    verify:
      token: {header: authorization, prefix: "Bearer ", secrets: [{env: PARTNER_WEBHOOK_TOKEN}]}
    client_identity:
      trust_domains: [hookguard.demo]
  - name: limited
    match: {path: /webhooks/limited}
    verify: {github: {secrets: [{env: GITHUB_WEBHOOK_SECRET}]}}
    rate_limit: {rate: 1/m, burst: 3, per: [source]}
  # A budget every sender shares, with the default failure budget (the same
  # 5 an hour, per source). An hour, not a minute, so that no token comes
  # back while the test runs on a slow machine.
  - name: budget
    match: {path: /webhooks/budget}
    verify: {github: {secrets: [{env: GITHUB_WEBHOOK_SECRET}]}}
    rate_limit: {rate: 5/h, burst: 5, per: [endpoint]}
  - name: schema
    match: {path: /webhooks/schema}
    verify: {github: {secrets: [{env: GITHUB_WEBHOOK_SECRET}]}}
    payload:
      content_types: [application/json]
      schemas:
        header: x-github-event
        by_value: {push: push.json}
  - name: internal
    match: {path: /webhooks/internal}
    verify: {github: {secrets: [{env: GITHUB_WEBHOOK_SECRET}]}}
    source:
      allow_cidrs: [127.0.0.1/32]
`

const pushSchema = `{"type":"object","required":["ref"],"properties":{"ref":{"type":"string","pattern":"^refs/"}}}`

const partnerToken = "partner-e2e-token"

var stagesFixture = newFixture("stages", map[string]string{"stages.yaml": stagesPolicy, "push.json": pushSchema},
	func() []string { return append(secretEnv(), "PARTNER_WEBHOOK_TOKEN="+partnerToken) })

// stagesEnv returns the stack whose hookguard serves stagesPolicy.
func stagesEnv(t *testing.T) *stack.Stack { return stagesFixture.get(t) }

// mtlsClient speaks to the mTLS listener presenting cert (none when nil).
func mtlsClient(s *stack.Stack, cert *tls.Certificate) *http.Client {
	conf := s.Certs.ClientTLSConfig()
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	return stack.NewClient(conf, s.Envoy.Config.MTLSPort, false)
}

func partnerHeaders() http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+partnerToken)
	h.Set("Content-Type", "application/json")
	return h
}

// A client with a certificate from the demo CA, whose SPIFFE ID is in the
// allowed trust domain, gets through the mTLS listener; hookguard saw the
// principal Envoy verified.
func TestMTLSAllowed(t *testing.T) {
	s := stagesEnv(t)
	r := send(t, mtlsClient(s, &s.Certs.Client.TLS), http.MethodPost, s.MTLSURL("/webhooks/partner"), partnerHeaders(), []byte(`{}`))
	if r.Status != http.StatusOK {
		t.Fatalf("got %s", r)
	}
	got := onlyUpstream(t, s)
	if got.Header.Get("X-Hookguard-Endpoint") != "partner" || got.Header.Get("Authorization") != "" {
		t.Errorf("upstream headers %v: want endpoint partner and no Authorization", got.Header)
	}
}

// Refused by Envoy: the TLS handshake of the mTLS listener fails without a
// certificate, and with one from another CA; hookguard is never asked.
func TestMTLSRefusedByEnvoy(t *testing.T) {
	s := stagesEnv(t)
	otherCA, err := stack.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := otherCA.Issue("stranger", stack.LeafOptions{CommonName: "stranger", URIs: mustURLs(t, stack.ClientSPIFFEID), Client: true})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Envoy.Counter("http.ingress_http.ext_authz.ok")
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA": &stranger.TLS} {
		req, _ := http.NewRequest(http.MethodPost, s.MTLSURL("/webhooks/partner"), strings.NewReader("{}"))
		req.Header = partnerHeaders()
		resp, err := mtlsClient(s, cert).Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			t.Errorf("%s: Envoy answered %d; the handshake must fail", name, resp.StatusCode)
			continue
		}
		var netErr net.Error
		if !strings.Contains(err.Error(), "certificate") && !strings.Contains(err.Error(), "tls") && !errors.As(err, &netErr) {
			t.Errorf("%s: unexpected error %v", name, err)
		}
	}
	wantNothingUpstream(t, s)
	if after, _ := s.Envoy.Counter("http.ingress_http.ext_authz.ok"); after != before {
		t.Errorf("ext_authz ran for a refused handshake: ok %d → %d", before, after)
	}
}

// Refused by hookguard: on the plain TLS listener there is no client
// certificate, so the partner endpoint answers 401; a certificate from the
// right CA but outside the trust domain is 403.
func TestClientIdentityRefusedByHookguard(t *testing.T) {
	s := stagesEnv(t)
	r := send(t, s.Client11, http.MethodPost, s.URL("/webhooks/partner"), partnerHeaders(), []byte(`{}`))
	wantDenial(t, r, http.StatusUnauthorized, "client_certificate_required", "partner")

	outsider, err := s.Certs.CA.Issue("outsider", stack.LeafOptions{CommonName: "outsider", URIs: mustURLs(t, "spiffe://elsewhere.example/x"), Client: true})
	if err != nil {
		t.Fatal(err)
	}
	r = send(t, mtlsClient(s, &outsider.TLS), http.MethodPost, s.MTLSURL("/webhooks/partner"), partnerHeaders(), []byte(`{}`))
	wantDenial(t, r, http.StatusForbidden, "client_identity_denied", "partner")
	wantNothingUpstream(t, s)
}

// A burst above a source's limit: the first three pass, the fourth is 429
// with Retry-After and the RateLimit headers naming the source bucket; the
// signature of the fourth was never checked (it is forged, and still 429,
// not 401).
func TestRateLimited(t *testing.T) {
	s := stagesEnv(t)
	for i := 0; i < 3; i++ {
		body := []byte(`{"n":` + strconv.Itoa(i) + `}`)
		if r := send(t, s.Client11, http.MethodPost, s.URL("/webhooks/limited"), githubHeaders(githubSecret, body, newUUID()), body); r.Status != http.StatusOK {
			t.Fatalf("request %d within the burst: %s", i, r)
		}
	}
	forged := http.Header{"X-Hub-Signature-256": {"sha256=" + strings.Repeat("0", 64)}}
	r := send(t, s.Client11, http.MethodPost, s.URL("/webhooks/limited"), forged, []byte(`{"n":4}`))
	wantDenial(t, r, http.StatusTooManyRequests, "rate_limited", "limited")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if got := r.Header.Get("RateLimit-Policy"); got != `"source";q=3;w=180` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	if got := r.Header.Get("RateLimit"); !strings.HasPrefix(got, `"source";r=0;t=`) {
		t.Errorf("RateLimit %q", got)
	}
	if n := len(s.Upstream.Requests()); n != 3 {
		t.Errorf("upstream saw %d requests, want 3", n)
	}
}

// Forged requests do not spend the budget real senders share: four forged
// deliveries from the sender's own address, then its valid delivery,
// which passes. A prober at another address is cut off on its own failure
// budget (429 before its signature is checked) while the sender's
// deliveries still pass, and the endpoint's budget, 5, is spent by
// verified deliveries alone.
func TestForgedBurstDoesNotBlockRealSender(t *testing.T) {
	s := stagesEnv(t)
	sender := s.Client11 // from 127.0.0.1
	prober := stack.NewClientFrom(s.Certs.ClientTLSConfig(), s.Envoy.Config.ListenPort, false, net.ParseIP("127.0.0.3"))
	url := s.URL("/webhooks/budget")
	n := 0
	forge := func(c *http.Client) response {
		n++
		body := []byte(`{"forged":` + strconv.Itoa(n) + `}`)
		h := githubHeaders(githubSecret, body, newUUID())
		h.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
		return send(t, c, http.MethodPost, url, h, body)
	}
	deliver := func(c *http.Client) response {
		n++
		body := []byte(`{"delivery":` + strconv.Itoa(n) + `}`)
		return send(t, c, http.MethodPost, url, githubHeaders(githubSecret, body, newUUID()), body)
	}

	for i := 0; i < 4; i++ {
		wantDenial(t, forge(sender), http.StatusUnauthorized, "signature_invalid", "budget")
	}
	if r := deliver(sender); r.Status != http.StatusOK {
		t.Fatalf("the valid delivery after four forged ones: %s", r)
	}

	for i := 0; i < 5; i++ {
		wantDenial(t, forge(prober), http.StatusUnauthorized, "signature_invalid", "budget")
	}
	r := forge(prober)
	wantDenial(t, r, http.StatusTooManyRequests, "rate_limited", "budget")
	if got := r.Header.Get("RateLimit-Policy"); got != `"failures";q=5;w=3600` {
		t.Errorf("prober's RateLimit-Policy %q", got)
	}
	if got := r.Header.Get("RateLimit"); !strings.HasPrefix(got, `"failures";r=0;t=`) {
		t.Errorf("prober's RateLimit %q", got)
	}

	for i := 0; i < 4; i++ {
		if r := deliver(sender); r.Status != http.StatusOK {
			t.Fatalf("verified delivery %d of the budget of 5, after 10 forged requests: %s", i+2, r)
		}
	}
	r = deliver(sender)
	wantDenial(t, r, http.StatusTooManyRequests, "rate_limited", "budget")
	if got := r.Header.Get("RateLimit-Policy"); got != `"endpoint";q=5;w=3600` {
		t.Errorf("sixth delivery's RateLimit-Policy %q", got)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 720 {
		t.Errorf("Retry-After %q, want at most the 12 minutes a token takes", r.Header.Get("Retry-After"))
	}
	if got := len(s.Upstream.Requests()); got != 5 {
		t.Errorf("upstream saw %d requests, want the 5 verified deliveries", got)
	}
}

// A payload violating its schema is 422 naming the failing JSON pointer,
// without echoing the value.
func TestSchemaViolation(t *testing.T) {
	s := stagesEnv(t)
	send1 := func(body string) response {
		h := githubHeaders(githubSecret, []byte(body), newUUID())
		h.Set("X-GitHub-Event", "push")
		h.Set("Content-Type", "application/json")
		return send(t, s.Client11, http.MethodPost, s.URL("/webhooks/schema"), h, []byte(body))
	}
	r := send1(`{"ref":"main-secret-value"}`)
	wantDenial(t, r, http.StatusUnprocessableEntity, "schema_violation", "schema")
	if !strings.Contains(string(r.Body), `"pointer":"/ref"`) || strings.Contains(string(r.Body), "main-secret-value") {
		t.Errorf("deny body %s: want the pointer /ref and no value", r.Body)
	}
	wantNothingUpstream(t, s)
	if r := send1(`{"ref":"refs/heads/main"}`); r.Status != http.StatusOK {
		t.Fatalf("valid push: %s", r)
	}
}

// The source allowlist admits 127.0.0.1 and refuses 127.0.0.2, both loopback
// addresses of this machine, as Envoy reports them in source.address.
func TestSourceAllowlist(t *testing.T) {
	s := stagesEnv(t)
	for _, tc := range []struct {
		source string
		want   int
	}{{"127.0.0.1", http.StatusOK}, {"127.0.0.2", http.StatusForbidden}} {
		c := stack.NewClientFrom(s.Certs.ClientTLSConfig(), s.Envoy.Config.ListenPort, false, net.ParseIP(tc.source))
		body := []byte(`{"from":"` + tc.source + `"}`)
		r := send(t, c, http.MethodPost, s.URL("/webhooks/internal"), githubHeaders(githubSecret, body, newUUID()), body)
		if tc.want == http.StatusOK {
			if r.Status != http.StatusOK {
				t.Errorf("from %s: %s", tc.source, r)
			}
			continue
		}
		wantDenial(t, r, tc.want, "source_not_allowed", "internal")
	}
	if n := len(s.Upstream.Requests()); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}

func mustURLs(t *testing.T, raw ...string) []*url.URL {
	t.Helper()
	var out []*url.URL
	for _, r := range raw {
		u, err := url.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}
