package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

// canonicalPolicy is the layout in which a request that misses a strict
// endpoint falls to a weaker one: a GitHub endpoint beside a broad token
// endpoint on its parent path, and a host-bound ENFORCE endpoint beside an
// any-host DRY_RUN one. The Envoy route /webhooks/github names "github";
// every other path reaches hookguard without a context extension.
const canonicalPolicy = `
endpoints:
  - name: github
    match: {path_prefix: /webhooks/github}
    verify: {github: {secrets: [{env: GITHUB_WEBHOOK_SECRET}]}}
  - name: broad
    match: {path_prefix: /webhooks}
    verify: {token: {header: x-partner-token, secrets: [{env: PARTNER_WEBHOOK_TOKEN}]}}
  - name: hooks-strict
    match: {hosts: [hooks.example.com], path_prefix: /hostcheck}
    verify: {github: {secrets: [{env: GITHUB_WEBHOOK_SECRET}]}}
  - name: hooks-dry
    match: {path_prefix: /hostcheck}
    mode: DRY_RUN
    verify: {github: {secrets: [{env: GITHUB_WEBHOOK_SECRET}]}}
  - name: nobody
    match: {path: /nobody}
    verify: {github: {secrets: [{env: GITHUB_WEBHOOK_SECRET}]}}
`

const canonicalPartnerToken = "broad-e2e-token"

var canonicalFixture = func() *fixture {
	f := newFixture("canonical", map[string]string{"canonical.yaml": canonicalPolicy},
		func() []string { return append(secretEnv(), "PARTNER_WEBHOOK_TOKEN="+canonicalPartnerToken) })
	f.noBodyPath = "/nobody"
	return f
}()

// forgedForBroad is a request a holder of the broad endpoint's token could
// send: that token, and a GitHub signature it cannot make. Matched to the
// broad endpoint it would pass; it must reach the GitHub endpoint or
// nothing.
func forgedForBroad(body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Partner-Token", canonicalPartnerToken)
	h.Set("X-GitHub-Event", "push")
	h.Set("X-GitHub-Delivery", newUUID())
	h.Set("X-Hub-Signature-256", signGitHub("not-the-secret", body))
	return h
}

// sendRaw sends path exactly as written, without Go's URL parsing and
// re-encoding in between, and host as :authority when not empty.
func sendRaw(t *testing.T, c *http.Client, s *stack.Stack, host, path string, h http.Header, body []byte) (response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL("/"), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	if host != "" {
		req.Host = host
	}
	for k, vs := range h {
		req.Header[k] = append([]string(nil), vs...)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// extAuthzChecks counts the checks Envoy has made so far, allowed, denied
// or failed, to tell a request Envoy refused itself from one hookguard saw.
func extAuthzChecks(t *testing.T, s *stack.Stack) int64 {
	t.Helper()
	var n int64
	for _, c := range []string{"ok", "denied", "error", "failure_mode_allowed"} {
		v, err := s.Envoy.Counter("http.ingress_http.ext_authz." + c)
		if err != nil {
			t.Fatal(err)
		}
		n += v
	}
	return n
}

// refusal says who answered a request and how.
type refusal struct {
	status int
	reason string // hookguard's error code; "" when Envoy answered itself
}

// wantRefused sends a request that must never reach the upstream and checks
// who refused it: hookguard (its JSON denial with that reason, one more
// ext_authz check) or Envoy itself (no check at all).
func wantRefused(t *testing.T, c *http.Client, s *stack.Stack, host, path string, h http.Header, body []byte, want refusal) {
	t.Helper()
	s.Upstream.Reset()
	before := extAuthzChecks(t, s)
	r, err := sendRaw(t, c, s, host, path, h, body)
	if err != nil {
		t.Fatalf("%s %s: %v", host, path, err)
	}
	if r.Status != want.status {
		t.Errorf("%s %s: got %s, want %d", host, path, r, want.status)
	}
	checks := extAuthzChecks(t, s) - before
	if want.reason == "" {
		if checks != 0 {
			t.Errorf("%s %s: Envoy asked hookguard %d time(s); it must refuse the request itself", host, path, checks)
		}
	} else {
		var e errorBody
		if err := json.Unmarshal(r.Body, &e); err != nil || e.Error != want.reason {
			t.Errorf("%s %s: got body %q, want hookguard's %s denial", host, path, r.Body, want.reason)
		}
		if checks != 1 {
			t.Errorf("%s %s: %d ext_authz checks, want 1", host, path, checks)
		}
	}
	if reqs := s.Upstream.Requests(); len(reqs) != 0 {
		t.Errorf("%s %s: upstream saw %s %s", host, path, reqs[0].Method, reqs[0].Path)
	}
}

// TestPathConfusionNeverReachesUpstream: every spelling of
// /webhooks/github that some router or framework reads as that path,
// carrying the broad endpoint's token and a forged GitHub signature, is
// refused, by Envoy's normalisation or by hookguard, over HTTP/1.1 and
// HTTP/2; none is checked against the broad endpoint. Each case names the
// layer that refused it.
func TestPathConfusionNeverReachesUpstream(t *testing.T) {
	s := canonicalFixture.get(t)
	body := []byte(`{"ref":"refs/heads/main","forged":true}`)

	// The token works: the same request on another path under /webhooks is
	// the broad endpoint's and goes through. Without this the cases below
	// could pass for the wrong reason.
	r, err := sendRaw(t, s.Client11, s, "", "/webhooks/other", forgedForBroad(body), body)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("control request to the broad endpoint: %v %s", err, r)
	}

	for _, tt := range []struct {
		path string
		want refusal
	}{
		// hookguard: Envoy does not fold case, so the catch-all route
		// sends it unnamed, and hookguard refuses the near miss of
		// "github" instead of matching "broad".
		{"/webhooks/GitHub", refusal{400, "non_canonical_request"}},
		// hookguard: Envoy keeps ;parameters; "github" does not accept
		// them (match.path_parameters).
		{"/webhooks/github;x=1", refusal{400, "non_canonical_request"}},
		// hookguard: a trailing dot is no dot segment to Envoy; a near
		// miss to hookguard.
		{"/webhooks/github.", refusal{400, "non_canonical_request"}},
		// hookguard: Envoy keeps the encoded space; a near miss.
		{"/webhooks/github%20", refusal{400, "non_canonical_request"}},
		// Envoy merges the slashes (merge_slashes) and routes to the
		// github route, which names the endpoint: hookguard refuses the
		// forged signature.
		{"/webhooks//github", refusal{401, "signature_invalid"}},
		// Envoy removes the dot segments (normalize_path): as above.
		{"/webhooks/x/../github", refusal{401, "signature_invalid"}},
		// Envoy decodes the escaped unreserved "g" (normalize_path): as
		// above.
		{"/webhooks/%67ithub", refusal{401, "signature_invalid"}},
		// Envoy: path_with_escaped_slashes_action REJECT_REQUEST answers
		// 400 before any filter runs.
		{"/webhooks/x%2F..%2Fgithub", refusal{400, ""}},
	} {
		for name, c := range map[string]*http.Client{"http/1.1": s.Client11, "h2": s.Client} {
			t.Run(name+" "+tt.path, func(t *testing.T) {
				wantRefused(t, c, s, "", tt.path, forgedForBroad(body), body, tt.want)
			})
		}
	}
}

// TestHostConfusionNeverReachesDryRun: spellings of hooks.example.com
// reach the host-bound ENFORCE endpoint or are refused; none falls to the
// any-host DRY_RUN endpoint, which would let the forged request through.
// Envoy passes both authorities on; hookguard decides.
func TestHostConfusionNeverReachesDryRun(t *testing.T) {
	s := canonicalFixture.get(t)
	body := []byte(`{"forged":true}`)
	forged := http.Header{"Content-Type": {"application/json"}, "X-Hub-Signature-256": {signGitHub("not-the-secret", body)}}

	// DRY_RUN lets a forged request through on any other host: what the
	// cases below must not reach.
	r, err := sendRaw(t, s.Client11, s, "other.example.com", "/hostcheck", forged, body)
	if err != nil || r.Status != http.StatusOK || len(s.Upstream.Requests()) != 1 {
		t.Fatalf("control request to the DRY_RUN endpoint: %v %s", err, r)
	}

	for _, tt := range []struct {
		host string
		want refusal
	}{
		// hookguard: the trailing dot is dropped, the strict endpoint
		// matches and refuses the signature.
		{"hooks.example.com.", refusal{401, "signature_invalid"}},
		// hookguard: two ports make a malformed authority.
		{"hooks.example.com:443:443", refusal{400, "non_canonical_request"}},
	} {
		for name, c := range map[string]*http.Client{"http/1.1": s.Client11, "h2": s.Client} {
			t.Run(name+" "+tt.host, func(t *testing.T) {
				wantRefused(t, c, s, tt.host, "/hostcheck", forged, body, tt.want)
			})
		}
	}
}

// TestUnderscoreTrustHeaderRejectedByEnvoy: x_hookguard_verified never
// reaches the upstream: Envoy refuses any header name with an underscore
// (headers_with_underscores_action: REJECT_REQUEST), 400 on HTTP/1.1 and a
// reset stream on HTTP/2, before hookguard is asked, even on a request
// that would otherwise be allowed. (hookguard strips such headers itself
// where Envoy lets them through: authz/daemon TestTrustHeaderSpellings.)
func TestUnderscoreTrustHeaderRejectedByEnvoy(t *testing.T) {
	s := canonicalFixture.get(t)
	// A body of its own for each request: GitHub's replay key is the
	// signed body, and none of these may be refused as a replay.
	body := []byte(`{"ok":"http/1.1"}`)
	h := githubHeaders(githubSecret, body, newUUID())
	h["x_hookguard_verified"] = []string{"github"}
	wantRefused(t, s.Client11, s, "", "/webhooks/github", h, body, refusal{400, ""})

	s.Upstream.Reset()
	before := extAuthzChecks(t, s)
	body = []byte(`{"ok":"h2"}`)
	h = githubHeaders(githubSecret, body, newUUID())
	h["x_hookguard_verified"] = []string{"github"}
	if r, err := sendRaw(t, s.Client, s, "", "/webhooks/github", h, body); err == nil {
		t.Errorf("h2: got %s, want the stream reset", r)
	} else if !strings.Contains(err.Error(), "stream error") && !strings.Contains(err.Error(), "PROTOCOL_ERROR") {
		t.Errorf("h2: got error %v, want a stream reset", err)
	}
	if n := extAuthzChecks(t, s) - before; n != 0 {
		t.Errorf("h2: Envoy asked hookguard %d time(s)", n)
	}
	wantNothingUpstream(t, s)

	// The same delivery without the header goes through: the refusal was
	// the underscore's.
	body = []byte(`{"ok":"without"}`)
	h = githubHeaders(githubSecret, body, newUUID())
	if r, err := sendRaw(t, s.Client11, s, "", "/webhooks/github", h, body); err != nil || r.Status != http.StatusOK {
		t.Fatalf("the delivery without the header: %v %s", err, r)
	}
}

// TestBodyNotForwardedE2E: on a route whose check carries no body (as
// without with_request_body), a delivery signed over the empty body with a
// body attached is refused with 503 body_not_forwarded, and the log line
// names the setting to fix. Verified over the empty body it would pass.
func TestBodyNotForwardedE2E(t *testing.T) {
	s := canonicalFixture.get(t)
	body := []byte(`{"forged":"any body at all"}`)
	h := githubHeaders(githubSecret, nil, newUUID()) // the signature of an empty body
	r := send(t, s.Client11, http.MethodPost, s.URL("/nobody"), h, body)
	wantDenial(t, r, http.StatusServiceUnavailable, "body_not_forwarded", "nobody")
	wantNothingUpstream(t, s)

	var line map[string]any
	if !eventually(5*time.Second, func() bool {
		all, err := s.Hookguard.Decisions()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(all, func(l map[string]any) bool { return l["reason"] == "body_not_forwarded" })
		if i >= 0 {
			line = all[i]
		}
		return i >= 0
	}) {
		t.Fatal("no body_not_forwarded decision in hookguard's log")
	}
	detail, _ := line["detail"].(string)
	for _, setting := range []string{"with_request_body", "includeRequestBodyInCheck"} {
		if !strings.Contains(detail, setting) {
			t.Errorf("log detail %q does not name %s", detail, setting)
		}
	}
}
