package daemon

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"

	"github.com/hookguard/hookguard/e2e/policyfs"
)

// canonicalPolicy is a layout in which a request that misses a strict
// endpoint falls to a weaker one: GitHub beside a broad token endpoint on
// its parent path, a host-bound ENFORCE endpoint beside an any-host
// DRY_RUN one. The requests below carry no context extension, as in Istio,
// so hookguard alone picks the endpoint from the raw path and authority.
const canonicalPolicy = `
endpoints:
  - name: github
    match: {path_prefix: /webhooks/github}
    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}
  - name: broad
    match: {path_prefix: /webhooks}
    verify: {token: {header: x-partner-token, secrets: [{env: PARTNER_TOKEN}]}}
  - name: hooks-strict
    match: {hosts: [hooks.example.com], path_prefix: /hostcheck}
    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}
  - name: hooks-dry
    match: {path_prefix: /hostcheck}
    mode: DRY_RUN
    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}
  - name: nobody
    match: {path: /nobody}
    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}
`

const (
	canonicalGitHubSecret = "gh-canonical-secret"
	canonicalPartner      = "partner-canonical-token"
)

// startCanonical serves canonicalPolicy and returns the server and its log.
func startCanonical(t *testing.T) (*running, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "canonical.yaml"), []byte(canonicalPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	r := startWith(t, Config{PolicyDir: dir, Log: zerolog.New(logs), DisableWatch: true,
		Secrets: policyfs.Env{"GITHUB_SECRET": canonicalGitHubSecret, "PARTNER_TOKEN": canonicalPartner}})
	return r, logs
}

// checkRaw sends one CheckRequest as Envoy would build it for a request
// with this raw path (query included), authority and headers, without
// context extensions.
func checkRaw(t *testing.T, r *running, host, path string, headers map[string]string, body []byte) *authv3.CheckResponse {
	t.Helper()
	h := map[string]string{":method": "POST", ":path": path, ":authority": host}
	for k, v := range headers {
		h[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(r.conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: path, Host: host, Scheme: "https", Headers: h, RawBody: body,
		}},
	}})
	if err != nil {
		t.Fatalf("Check %s %s: %v", host, path, err)
	}
	return resp
}

// verdict is what a CheckResponse says: forwarded or the HTTP status, the
// reason and the endpoint.
type verdict struct {
	status   int // 0: forwarded upstream
	reason   string
	endpoint string
}

func verdictOf(resp *authv3.CheckResponse) verdict {
	md := resp.GetDynamicMetadata().GetFields()
	o := verdict{reason: md["reason"].GetStringValue(), endpoint: md["endpoint"].GetStringValue()}
	if resp.GetOkResponse() == nil {
		o.status = int(resp.GetDeniedResponse().GetStatus().GetCode())
	}
	return o
}

func signed(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// TestRawPathsWithoutContextExtensions: the spellings of /webhooks/github
// that Envoy's normalisation would rewrite or refuse arrive raw, as from a
// gateway that does not normalise; each is refused with
// non_canonical_request, none reaches the broad token endpoint although
// the request holds its token.
func TestRawPathsWithoutContextExtensions(t *testing.T) {
	r, _ := startCanonical(t)
	body := []byte(`{"forged":true}`)
	forged := map[string]string{"x-partner-token": canonicalPartner, "x-hub-signature-256": signed("not-the-secret", body),
		"content-length": "15"}
	for _, tt := range []struct {
		path string
		want verdict
	}{
		// Controls: the token is the broad endpoint's, the signature is not
		// GitHub's.
		{"/webhooks/other", verdict{0, "ok", "broad"}},
		{"/webhooks/github", verdict{401, "signature_invalid", "github"}},

		{"/webhooks/GitHub", verdict{400, "non_canonical_request", ""}},
		{"/webhooks/GitHub?x=1", verdict{400, "non_canonical_request", ""}},
		{"/webhooks/github;x=1", verdict{400, "non_canonical_request", "github"}},
		{"/webhooks/github.", verdict{400, "non_canonical_request", ""}},
		{"/webhooks/github%20", verdict{400, "non_canonical_request", ""}},
		{"/webhooks//github", verdict{400, "non_canonical_request", ""}},
		{"/webhooks/x/../github", verdict{400, "non_canonical_request", ""}},
		{"/webhooks/%67ithub", verdict{400, "non_canonical_request", ""}},
		{"/webhooks/x%2F..%2Fgithub", verdict{400, "non_canonical_request", ""}},
		{"/webhooks/x%2f..%2fgithub", verdict{400, "non_canonical_request", ""}},
		{`/webhooks\github`, verdict{400, "non_canonical_request", ""}},
	} {
		if got := verdictOf(checkRaw(t, r, "hooks.example.com", tt.path, forged, body)); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

// TestRawAuthoritiesWithoutContextExtensions: spellings of a host-bound
// ENFORCE endpoint's host select it or are refused; none falls to the
// any-host DRY_RUN endpoint, which would forward the forged request.
func TestRawAuthoritiesWithoutContextExtensions(t *testing.T) {
	r, _ := startCanonical(t)
	body := []byte(`{"forged":true}`)
	forged := map[string]string{"x-hub-signature-256": signed("not-the-secret", body), "content-length": "15"}
	for _, tt := range []struct {
		host string
		want verdict
	}{
		// Control: on another host DRY_RUN forwards the failure.
		{"other.example.com", verdict{0, "signature_invalid", "hooks-dry"}},
		{"hooks.example.com", verdict{401, "signature_invalid", "hooks-strict"}},

		{"hooks.example.com.", verdict{401, "signature_invalid", "hooks-strict"}},
		{"HOOKS.Example.COM:8443", verdict{401, "signature_invalid", "hooks-strict"}},
		{"hooks.example.com:443:443", verdict{400, "non_canonical_request", ""}},
		{"hooks.example.com:", verdict{400, "non_canonical_request", ""}},
		{"user@hooks.example.com", verdict{400, "non_canonical_request", ""}},
		{"hooks%2Eexample.com", verdict{400, "non_canonical_request", ""}},
		{"hooks..example.com", verdict{400, "non_canonical_request", ""}},
	} {
		if got := verdictOf(checkRaw(t, r, tt.host, "/hostcheck", forged, body)); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.host, got, tt.want)
		}
	}
}

// TestTrustHeaderSpellings: where the proxy lets headers with underscores
// through (Envoy's default, Istio's), every spelling of a hookguard header
// that a CGI or WSGI server reads as x-hookguard-* is removed from a
// forwarded request, an allowed one and a DRY_RUN pass alike, and the real
// headers are set over any the client sent.
func TestTrustHeaderSpellings(t *testing.T) {
	r, _ := startCanonical(t)
	body := []byte(`{"a":1}`)
	spoofed := map[string]string{
		"x_hookguard_verified":    "github",
		"x_hookguard-endpoint":    "github",
		"x-hookguard_delivery_id": "d",
		"x-hookguard-verified":    "github",
	}
	for _, tt := range []struct {
		name, host, path string
		headers          map[string]string
		endpoint         string
	}{
		{"allowed", "h", "/webhooks/other", map[string]string{"x-partner-token": canonicalPartner}, "broad"},
		{"dry-run pass", "other.example.com", "/hostcheck", map[string]string{"x-hub-signature-256": signed("not-the-secret", body)}, "hooks-dry"},
	} {
		h := map[string]string{"content-length": "7"}
		for k, v := range spoofed {
			h[k] = v
		}
		for k, v := range tt.headers {
			h[k] = v
		}
		resp := checkRaw(t, r, tt.host, tt.path, h, body)
		ok := resp.GetOkResponse()
		if ok == nil {
			t.Fatalf("%s: not forwarded: %v", tt.name, resp)
		}
		for name := range spoofed {
			if name == "x-hookguard-verified" {
				continue // overwritten or removed, checked below
			}
			if !slices.Contains(ok.GetHeadersToRemove(), name) {
				t.Errorf("%s: %s not removed (removes %v)", tt.name, name, ok.GetHeadersToRemove())
			}
		}
		set := map[string]string{}
		for _, hv := range ok.GetHeaders() {
			set[hv.GetHeader().GetKey()] = hv.GetHeader().GetValue()
		}
		if set["x-hookguard-endpoint"] != tt.endpoint {
			t.Errorf("%s: x-hookguard-endpoint set to %q, want %q", tt.name, set["x-hookguard-endpoint"], tt.endpoint)
		}
		verified, isSet := set["x-hookguard-verified"]
		switch tt.endpoint {
		case "broad":
			if verified != "token" {
				t.Errorf("%s: x-hookguard-verified set to %q, want token", tt.name, verified)
			}
		default:
			// A DRY_RUN pass of a failed request is never marked verified:
			// the client's value must go.
			if isSet || !slices.Contains(ok.GetHeadersToRemove(), "x-hookguard-verified") {
				t.Errorf("%s: x-hookguard-verified set=%v (%q), removed=%v; want it removed", tt.name, isSet, verified, ok.GetHeadersToRemove())
			}
		}
	}
}

// TestBodyNotForwardedWithoutContextExtensions: a check that declares a
// body it does not carry (Envoy without with_request_body, Istio without
// includeRequestBodyInCheck) is refused with 503 before any signature is
// checked, even one valid for the empty body, and the log line names the
// settings to fix.
func TestBodyNotForwardedWithoutContextExtensions(t *testing.T) {
	r, logs := startCanonical(t)
	emptySig := signed(canonicalGitHubSecret, nil)
	for _, tt := range []struct {
		name    string
		headers map[string]string
		body    []byte
		want    verdict
	}{
		{"content-length, no body", map[string]string{"content-length": "28"}, nil, verdict{503, "body_not_forwarded", "nobody"}},
		{"content-length, other length", map[string]string{"content-length": "28"}, []byte(`{}`), verdict{503, "body_not_forwarded", "nobody"}},
		{"chunked, no body", map[string]string{"transfer-encoding": "chunked"}, nil, verdict{503, "body_not_forwarded", "nobody"}},
		// Controls: a request that really has no body verifies as usual.
		{"no body declared", nil, nil, verdict{0, "ok", "nobody"}},
	} {
		h := map[string]string{"x-hub-signature-256": emptySig}
		for k, v := range tt.headers {
			h[k] = v
		}
		if got := verdictOf(checkRaw(t, r, "h", "/nobody", h, tt.body)); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
	var found bool
	for _, l := range logs.lines() {
		if l["reason"] != "body_not_forwarded" {
			continue
		}
		found = true
		detail, _ := l["detail"].(string)
		if !strings.Contains(detail, "with_request_body") || !strings.Contains(detail, "includeRequestBodyInCheck") {
			t.Errorf("log detail %q does not name with_request_body and includeRequestBodyInCheck", detail)
		}
	}
	if !found {
		t.Error("no body_not_forwarded line in the log")
	}
}
