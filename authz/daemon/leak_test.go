package daemon

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/extauthz"
	"github.com/hookguard/hookguard/authz/internal/webhooktest"
	"github.com/hookguard/hookguard/authz/verify"
)

// stagesYAML adds endpoints with the other stages to webhooktest's
// policy, all verified with HG_STAGES_SECRET, so every reason can be
// reached.
const stagesYAML = `endpoints:
  - name: sourced
    match: {path_prefix: /stages/sourced}
    verify: {github: {secrets: [{env: HG_STAGES_SECRET}]}}
    source: {allow_cidrs: [192.0.2.0/24]}
  - name: mtls
    match: {path_prefix: /stages/mtls}
    verify: {github: {secrets: [{env: HG_STAGES_SECRET}]}}
    client_identity: {trust_domains: [example.org]}
  - name: limited
    match: {path_prefix: /stages/limited}
    verify: {github: {secrets: [{env: HG_STAGES_SECRET}]}}
    rate_limit: {rate: 1/m, burst: 1, per: [source]}
  - name: payload
    match: {path_prefix: /stages/payload}
    verify: {github: {secrets: [{env: HG_STAGES_SECRET}]}}
    payload: {max_bytes: 512, content_types: [application/json], json: true, schemas: {default: schema.json}}
  - name: dry
    match: {path_prefix: /stages/dry}
    verify: {github: {secrets: [{env: HG_STAGES_SECRET}]}}
    mode: DRY_RUN
`

const stagesSchema = `{"type": "object", "required": ["id", "kind"], "properties": {"kind": {"const": "leak"}}}`

// The secrets this test adds: distinctive, and starting with the marker.
const (
	stagesSecret = webhooktest.SecretMarker + "stages-5e0c77"
	// badSecret is refused by the loader, which must not quote it.
	badSecret = "whsec_" + webhooktest.SecretMarker + "bad-whsec-!!"
)

// leakCheck collects everything hookguard said and looks in it for what
// it must never say.
type leakCheck struct {
	t        *testing.T
	outputs  map[string]string // where → what it said
	needles  map[string]string // what → why it must not show
	reasons  map[authz.Reason]bool
	sequence int
}

func newLeakCheck(t *testing.T) *leakCheck {
	c := &leakCheck{t: t, outputs: map[string]string{}, needles: map[string]string{}, reasons: map[authz.Reason]bool{}}
	c.needles[webhooktest.SecretMarker] = "the marker every secret starts with"
	for _, s := range append(webhooktest.AllSecrets(), stagesSecret, badSecret, strings.TrimPrefix(badSecret, "whsec_")) {
		c.needles[s] = "a secret"
	}
	c.needles[webhooktest.BodyCanary] = "the body"
	return c
}

// signature registers the signature values a request carries.
func (c *leakCheck) signature(values ...string) {
	for _, v := range values {
		c.needles[v] = "a signature"
		// The encoded MAC or signature alone, without its prefix.
		for _, tok := range regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}`).FindAllString(v, -1) {
			c.needles[tok] = "part of a signature"
		}
	}
}

// output records what hookguard answered.
func (c *leakCheck) output(where string, resp *authv3.CheckResponse, err error) {
	c.sequence++
	key := where + " #" + strconv.Itoa(c.sequence)
	if err != nil {
		c.outputs[key+" error"] = err.Error()
		return
	}
	b, merr := protojson.Marshal(resp)
	if merr != nil {
		c.t.Fatal(merr)
	}
	c.outputs[key] = string(b)
	c.reasons[authz.Reason(resp.GetDynamicMetadata().GetFields()["reason"].GetStringValue())] = true
}

// findings lists every needle found in every output.
func (c *leakCheck) findings() []string {
	var out []string
	for where, text := range c.outputs {
		for needle, what := range c.needles {
			if i := strings.Index(text, needle); i >= 0 {
				out = append(out, where+" holds "+what+": ..."+text[max(0, i-60):min(len(text), i+len(needle)+20)]+"...")
			}
		}
	}
	slices.Sort(out)
	return out
}

// githubSigned is a request to path signed in the github scheme with the
// stages secret.
func githubSigned(method, path, contentType string, body []byte) (*authv3.CheckRequest, string) {
	m := hmac.New(sha256.New, []byte(stagesSecret))
	m.Write(body)
	sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
	header := map[string]string{verify.GitHubSignatureHeader: sig, "content-length": strconv.Itoa(len(body))}
	if contentType != "" {
		header["content-type"] = contentType
	}
	return webhooktest.NewCheckRequest(method, webhooktest.Host, path, header, body), sig
}

// TestNoSecretSignatureOrBodyLeaks runs every allow and deny path
// hookguard has, with known secrets, distinctive bodies and signatures,
// and looks for them in every log line, every answer (headers set and
// removed, response headers, denial bodies, dynamic metadata, gRPC
// status), every error, the metrics and the admin endpoints.
func TestNoSecretSignatureOrBodyLeaks(t *testing.T) {
	dir := t.TempDir()
	if err := webhooktest.WritePolicy(dir); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"stages.yaml": stagesYAML, "schema.json": stagesSchema} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secrets := webhooktest.NewSecrets()
	secrets["HG_STAGES_SECRET"] = stagesSecret
	secrets["HG_BAD_SECRET"] = badSecret
	logs := &syncBuffer{}
	reloads := make(chan struct{})
	r := startWith(t, Config{PolicyDir: dir, Secrets: secrets, Log: zerolog.New(logs), DisableWatch: true, Reload: reloads})
	client := authv3.NewAuthorizationClient(r.conn)
	c := newLeakCheck(t)
	send := func(where string, req *authv3.CheckRequest) *authv3.CheckResponse {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, req)
		c.output(where, resp, err)
		return resp
	}
	now := time.Now()

	for _, e := range webhooktest.Endpoints() {
		d, err := e.Delivery(now, "leak-"+e.Name)
		if err != nil {
			t.Fatal(err)
		}
		c.signature(d.Signatures...)
		// Allowed, then replayed.
		send(e.Name+" allowed", d.Request)
		send(e.Name+" replayed", d.Request)
		// Forged: every verifier's failure detail.
		send(e.Name+" forged", d.Forged())
		// Without its signature headers.
		f := d.Clone()
		for _, name := range webhooktest.SignatureHeaders(e.Verified) {
			delete(f.GetAttributes().GetRequest().GetHttp().GetHeaders(), name)
		}
		send(e.Name+" unsigned", f)
		// Signed an hour ago: stale where the scheme signs a time.
		old, err := e.Delivery(now.Add(-time.Hour), "leak-old-"+e.Name)
		if err != nil {
			t.Fatal(err)
		}
		c.signature(old.Signatures...)
		send(e.Name+" signed an hour ago", old.Request)
		if hs, ok := e.Handshake(now); ok {
			c.signature(hs.Signatures...)
			send(e.Name+" handshake", hs.Request)
		}
	}

	github := webhooktest.Lookup("github")
	gd, _ := github.Delivery(now, "leak-shapes")
	c.signature(gd.Signatures...)
	shape := func(where string, edit func(h *authv3.AttributeContext_HttpRequest)) {
		req := gd.Clone()
		edit(req.GetAttributes().GetRequest().GetHttp())
		send(where, req)
	}
	shape("no endpoint", func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/nowhere" })
	shape("method not allowed", func(h *authv3.AttributeContext_HttpRequest) { h.Method = "GET" })
	shape("non-canonical path", func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/webhooks/x/../github" })
	shape("non-canonical authority", func(h *authv3.AttributeContext_HttpRequest) { h.Host = "u@" + webhooktest.Host })
	shape("partial body", func(h *authv3.AttributeContext_HttpRequest) { h.Headers["x-envoy-auth-partial-body"] = "true" })
	shape("body not forwarded", func(h *authv3.AttributeContext_HttpRequest) { h.RawBody = nil })
	shape("spoofed trust headers", func(h *authv3.AttributeContext_HttpRequest) {
		h.Headers["x-hookguard-verified"] = "github"
		h.Headers["x_hookguard_endpoint"] = "github"
	})
	other := signedWith("github", "stripe")(t, "leak-other-secret")
	c.signature(other.GetAttributes().GetRequest().GetHttp().GetHeaders()[verify.GitHubSignatureHeader])
	send("another endpoint's secret", other)
	named := gd.Clone()
	named.Attributes.ContextExtensions = map[string]string{authz.EndpointExtension: "nope"}
	send("named endpoint unknown", named)

	body := func(extra string) []byte {
		return []byte(`{"id":"s1","canary":"` + webhooktest.BodyCanary + `"` + extra + `}`)
	}
	stage := func(where, method, path, contentType string, b []byte, edit func(*authv3.CheckRequest)) {
		req, sig := githubSigned(method, path, contentType, b)
		c.signature(sig)
		if edit != nil {
			edit(req)
		}
		send(where, req)
	}
	stage("source not allowed", "POST", "/stages/sourced", "application/json", body(""), nil)
	stage("client certificate required", "POST", "/stages/mtls", "application/json", body(""), nil)
	stage("client identity denied", "POST", "/stages/mtls", "application/json", body(""), func(r *authv3.CheckRequest) {
		r.Attributes.Source.Principal = "spiffe://other.example/ns/x"
	})
	stage("rate: first", "POST", "/stages/limited", "application/json", body(`,"n":1`), nil)
	stage("rate limited", "POST", "/stages/limited", "application/json", body(`,"n":2`), nil)
	stage("payload ok", "POST", "/stages/payload", "application/json", body(`,"kind":"leak"`), nil)
	stage("body too large", "POST", "/stages/payload", "application/json", body(`,"pad":"`+strings.Repeat("p", 600)+`"`), nil)
	stage("unsupported media type", "POST", "/stages/payload", "text/plain", body(`,"kind":"leak","n":2`), nil)
	stage("malformed payload", "POST", "/stages/payload", "application/json", []byte(`{"canary":"`+webhooktest.BodyCanary+`",`), nil)
	stage("schema violation", "POST", "/stages/payload", "application/json", body(`,"kind":"`+webhooktest.BodyCanary+`"`), nil)
	stage("dry run, forged", "POST", "/stages/dry", "application/json", body(""), func(r *authv3.CheckRequest) {
		r.GetAttributes().GetRequest().GetHttp().GetHeaders()[verify.GitHubSignatureHeader] = "sha256=" + strings.Repeat("ab", 32)
	})

	// A refused reload, whose secret the loader cannot use, then the
	// policy restored.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("endpoints:\n  - name: bad\n    match: {path: /bad}\n    verify: {standard_webhooks: {secrets: [{env: HG_BAD_SECRET}]}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reloads <- struct{}{}
	waitForLog(t, logs, "policy refused; the running policy stays in force")
	os.Remove(bad)
	reloads <- struct{}{}
	waitForLog(t, logs, "policy restored")

	for _, path := range []string{"/metrics", "/status", "/readyz"} {
		resp, err := http.Get("http://" + r.adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.outputs["admin "+path] = string(b)
	}
	r.stop(t)
	c.outputs["log"] = logs.String()

	// Unavailable cannot happen in a daemon, which always has its stores:
	// the adapter gets an authorizer without them.
	reg := prometheus.NewRegistry()
	adapterLogs := &syncBuffer{}
	p, err := webhooktest.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := authz.NewAuthorizer(authz.Config{})
	a.SetPolicy(p)
	s := extauthz.NewServer(a, extauthz.Config{Log: zerolog.New(adapterLogs), Metrics: extauthz.NewMetrics(reg)})
	ud, _ := github.Delivery(now, "leak-unavailable")
	c.signature(ud.Signatures...)
	resp, err := s.Check(context.Background(), ud.Request)
	c.output("unavailable", resp, err)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	c.outputs["adapter metrics"] = rec.Body.String()
	c.outputs["adapter log"] = adapterLogs.String()

	for _, reason := range authz.Reasons() {
		if !c.reasons[reason] {
			t.Errorf("reason %s was not reached: add a request that gets it", reason)
		}
	}
	if !strings.Contains(c.outputs["log"], `"decision":"allow"`) || !strings.Contains(c.outputs["admin /metrics"], "hookguard_decisions_total") {
		t.Fatal("the outputs are not what the test thinks they are")
	}
	for _, f := range c.findings() {
		t.Error(f)
	}
}

// TestLeakCheckFinds: the leak check finds a signature, the encoded MAC
// without its prefix, a secret and the body, wherever they are.
func TestLeakCheckFinds(t *testing.T) {
	c := newLeakCheck(t)
	c.signature("sha256=0123456789abcdef0123456789abcdef")
	c.outputs["a"] = `{"x":"sha256=0123456789abcdef0123456789abcdef"}`
	c.outputs["b"] = "detail: 0123456789abcdef0123456789abcdef"
	c.outputs["c"] = "token " + webhooktest.Lookup("token").Secrets[0]
	c.outputs["d"] = "body {" + webhooktest.BodyCanary + "}"
	c.outputs["e"] = "nothing"
	got := c.findings()
	for _, where := range []string{"a", "b", "c", "d"} {
		if !slices.ContainsFunc(got, func(f string) bool { return strings.HasPrefix(f, where+" holds") }) {
			t.Errorf("nothing found in %s: %q", where, got)
		}
	}
	if slices.ContainsFunc(got, func(f string) bool { return strings.HasPrefix(f, "e ") }) {
		t.Errorf("found something in nothing: %q", got)
	}
}

// String returns everything written so far.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitForLog waits until a log line holds msg.
func waitForLog(t *testing.T, logs *syncBuffer, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if slices.ContainsFunc(logs.lines(), func(l map[string]any) bool { return l["message"] == msg }) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line %q", msg)
}
