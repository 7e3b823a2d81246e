package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

// The cases below share one stack and run in file order; each resets the
// upstream's record first (shared does) and uses fresh delivery IDs, so none
// depends on another's traffic.

// wantAllowedGitHub checks what the upstream got for an allowed GitHub
// delivery: the verification headers hookguard set, the signature stripped
// and the body byte for byte.
func wantAllowedGitHub(t *testing.T, got stack.RecordedRequest, path, delivery string, body []byte) {
	t.Helper()
	if got.Method != http.MethodPost || got.Path != path {
		t.Errorf("upstream request: got %s %s, want POST %s", got.Method, got.Path, path)
	}
	for name, want := range map[string]string{
		"X-Hookguard-Endpoint":    "github",
		"X-Hookguard-Verified":    "github",
		"X-Hookguard-Delivery-Id": delivery,
		"X-Webhook-Source":        "github",
		"X-Github-Delivery":       delivery,
	} {
		if vs := got.Header.Values(name); len(vs) != 1 || vs[0] != want {
			t.Errorf("upstream header %s: got %q, want exactly [%q]", name, vs, want)
		}
	}
	if vs := got.Header.Values("X-Hub-Signature-256"); len(vs) != 0 {
		t.Errorf("upstream still got X-Hub-Signature-256 %q; the policy removes it", vs)
	}
	if !bytes.Equal(got.Body, body) {
		t.Errorf("upstream body differs: got %d bytes %q, want %d bytes %q",
			len(got.Body), truncate(got.Body, 80), len(body), truncate(body, 80))
	}
}

// Case a: a correctly signed GitHub delivery goes through once, with
// hookguard's headers set, the signature removed, spoofed x-hookguard-*
// headers gone, and the body byte-exact.
func TestGitHubValidDelivery(t *testing.T) {
	s := shared(t)
	// Multi-byte UTF-8, escapes, CRLF and a trailing newline: any re-encoding
	// between the client and hookguard breaks the signature.
	body := []byte("{\"zen\":\"Design for failure.\",\"hook_id\":42,\"emoji\":\"\u2728 caf\u00e9\",\r\n\"esc\":\"\\u00e9\\n\"}\n")
	delivery := newUUID()
	h := githubHeaders(githubSecret, body, delivery)
	// A client pretending hookguard already verified it.
	h.Set("X-Hookguard-Verified", "evil")
	h.Set("X-Hookguard-Extra", "x")

	r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github/push?x=1"), h, body)
	if r.Status != http.StatusOK {
		t.Fatalf("got %s, want 200", r)
	}
	var echo stack.Echo
	if err := json.Unmarshal(r.Body, &echo); err != nil {
		t.Fatalf("response is not the upstream's JSON echo: %v: %q", err, r.Body)
	}
	if echo.Body != string(body) || echo.BodyLen != len(body) {
		t.Errorf("echoed body: got %q (%d bytes), want %q", echo.Body, echo.BodyLen, body)
	}

	got := onlyUpstream(t, s)
	wantAllowedGitHub(t, got, "/webhooks/github/push?x=1", delivery, body)
	if vs := got.Header.Values("X-Hookguard-Extra"); len(vs) != 0 {
		t.Errorf("spoofed X-Hookguard-Extra reached the upstream: %q", vs)
	}
	if got.Header.Get("X-Request-Id") == "" {
		t.Errorf("upstream request has no X-Request-Id; generate_request_id is on")
	}
}

// Case a, binary body over HTTP/1.1: every byte value, including invalid
// UTF-8, must reach hookguard unchanged (pack_as_bytes) or the HMAC fails.
func TestGitHubBinaryBodyHTTP1(t *testing.T) {
	s := shared(t)
	body := make([]byte, 0, 3*256)
	for range 3 {
		for b := range 256 {
			body = append(body, byte(b))
		}
	}
	delivery := newUUID()
	h := githubHeaders(githubSecret, body, delivery)
	h.Set("Content-Type", "application/octet-stream")
	r := send(t, s.Client11, http.MethodPost, s.URL("/webhooks/github"), h, body)
	if r.Status != http.StatusOK {
		t.Fatalf("got %s, want 200", r)
	}
	wantAllowedGitHub(t, onlyUpstream(t, s), "/webhooks/github", delivery, body)
}

// Case a, with the body exactly at max_request_bytes: the largest body the
// gateway promises to verify must fit every buffer on the way.
func TestGitHubBodyAtLimit(t *testing.T) {
	s := shared(t)
	body := bytes.Repeat([]byte("a"), testMaxRequestBytes)
	copy(body, `{"pad":"`)
	copy(body[len(body)-2:], `"}`)
	delivery := newUUID()
	r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders(githubSecret, body, delivery), body)
	if r.Status != http.StatusOK {
		t.Fatalf("got %s, want 200", r)
	}
	wantAllowedGitHub(t, onlyUpstream(t, s), "/webhooks/github", delivery, body)
}

// Case a, signed by `hookguard sign` rather than by the test: the CLI
// providers' docs point users at must produce headers the server accepts.
func TestGitHubSignedByCLI(t *testing.T) {
	s := shared(t)
	bin := hookguardBinary(t)
	body := []byte(`{"zen":"signed by the CLI","n":1}`)
	bodyFile := filepath.Join(t.TempDir(), "payload.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "sign", "--scheme", "github", "--secret-env", "GITHUB_WEBHOOK_SECRET", "--body-file", bodyFile)
	cmd.Env = append(os.Environ(), secretEnv()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hookguard sign: %v\n%s", err, stderr.Bytes())
	}
	h := http.Header{}
	for line := range strings.Lines(string(out)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			t.Fatalf("hookguard sign printed %q, want `Name: value` lines", line)
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if sig := h.Get("X-Hub-Signature-256"); sig != signGitHub(githubSecret, body) {
		t.Errorf("CLI signature %q differs from the test's own HMAC", sig)
	} else {
		rememberSignature(sig)
	}
	delivery := h.Get("X-GitHub-Delivery")
	if delivery == "" {
		t.Fatalf("hookguard sign printed no X-GitHub-Delivery: %q", out)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), h, body)
	if r.Status != http.StatusOK {
		t.Fatalf("got %s, want 200 (CLI headers %q)", r, out)
	}
	wantAllowedGitHub(t, onlyUpstream(t, s), "/webhooks/github", delivery, body)
}

// Case b: a forged or missing signature is a 401 JSON denial from hookguard
// and the upstream never sees the request.
func TestGitHubForgedAndMissingSignature(t *testing.T) {
	s := shared(t)
	body := []byte(`{"zen":"forged"}`)

	t.Run("forged", func(t *testing.T) {
		r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders("not-the-secret", body, newUUID()), body)
		wantDenial(t, r, http.StatusUnauthorized, "signature_invalid", "github")
		wantNothingUpstream(t, s)
	})
	t.Run("valid signature, tampered body", func(t *testing.T) {
		h := githubHeaders(githubSecret, body, newUUID())
		r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), h, []byte(`{"zen":"forgeD"}`))
		wantDenial(t, r, http.StatusUnauthorized, "signature_invalid", "github")
		wantNothingUpstream(t, s)
	})
	t.Run("missing", func(t *testing.T) {
		h := githubHeaders(githubSecret, body, newUUID())
		h.Del("X-Hub-Signature-256")
		r := send(t, s.Client11, http.MethodPost, s.URL("/webhooks/github"), h, body)
		wantDenial(t, r, http.StatusUnauthorized, "signature_missing", "github")
		wantNothingUpstream(t, s)
	})
}

// Case c: the same delivery (same ID, same signature) a second time is a
// replay: 409, and the upstream got it once.
func TestGitHubReplay(t *testing.T) {
	s := shared(t)
	body := []byte(`{"zen":"only once"}`)
	delivery := newUUID()
	h := githubHeaders(githubSecret, body, delivery)

	r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), h, body)
	if r.Status != http.StatusOK {
		t.Fatalf("first delivery: got %s, want 200", r)
	}
	r = send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), h, body)
	wantDenial(t, r, http.StatusConflict, "replayed", "github")

	// GitHub does not sign X-GitHub-Delivery, so a captured delivery with a
	// fresh ID is still the same signed delivery and still a replay.
	h.Set("X-GitHub-Delivery", newUUID())
	r = send(t, s.Client11, http.MethodPost, s.URL("/webhooks/github"), h, body)
	wantDenial(t, r, http.StatusConflict, "replayed", "github")

	wantAllowedGitHub(t, onlyUpstream(t, s), "/webhooks/github", delivery, body)
}

// Case d: a path no policy endpoint matches goes through the catch-all route
// (no context extension) and hookguard answers 404.
func TestUnknownPath(t *testing.T) {
	s := shared(t)
	r := send(t, s.Client, http.MethodPost, s.URL("/nope"), http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
	wantDenial(t, r, http.StatusNotFound, "no_endpoint", "")
	wantNothingUpstream(t, s)
}

// Case e: webhooks are POSTs; a GET on a webhook endpoint is refused.
func TestMethodNotAllowed(t *testing.T) {
	s := shared(t)
	r := send(t, s.Client, http.MethodGet, s.URL("/webhooks/github"), nil, nil)
	wantDenial(t, r, http.StatusMethodNotAllowed, "method_not_allowed", "github")
	wantNothingUpstream(t, s)
}

// Case f: a body over max_request_bytes is answered 413 by Envoy itself
// (ext_authz with allow_partial_message false caps the request buffer); it
// never reaches hookguard, so the answer is Envoy's plain text, not
// hookguard's JSON, and even a valid signature does not help.
func TestBodyTooLarge(t *testing.T) {
	s := shared(t)
	body := bytes.Repeat([]byte("x"), 2*testMaxRequestBytes+1)
	okBefore, err := s.Envoy.Counter("http.ingress_http.ext_authz.ok")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*http.Client{"h2": s.Client, "http/1.1": s.Client11} {
		r := send(t, c, http.MethodPost, s.URL("/webhooks/github"), githubHeaders(githubSecret, body, newUUID()), body)
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: got %s, want 413", name, r)
			continue
		}
		if ct := r.Header.Get("Content-Type"); strings.Contains(ct, "json") {
			t.Errorf("%s: 413 has content-type %q; want Envoy's own reply, not hookguard's", name, ct)
		}
	}
	wantNothingUpstream(t, s)
	okAfter, err := s.Envoy.Counter("http.ingress_http.ext_authz.ok")
	if err != nil {
		t.Fatal(err)
	}
	if okAfter != okBefore {
		t.Errorf("ext_authz.ok moved from %d to %d: an oversized body was checked", okBefore, okAfter)
	}
}

// Case g: GitLab's shared-token scheme. The token header is a credential and
// must not reach the upstream; the event UUID becomes the delivery ID.
func TestGitLabToken(t *testing.T) {
	s := shared(t)
	body := []byte(`{"object_kind":"push","ref":"refs/heads/main"}`)

	t.Run("valid token", func(t *testing.T) {
		s.Upstream.Reset()
		event := newUUID()
		r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/gitlab"), gitlabHeaders(gitlabToken, event), body)
		if r.Status != http.StatusOK {
			t.Fatalf("got %s, want 200", r)
		}
		got := onlyUpstream(t, s)
		if vs := got.Header.Values("X-Gitlab-Token"); len(vs) != 0 {
			t.Errorf("upstream got the GitLab token header %q", vs)
		}
		if v := got.Header.Get("X-Hookguard-Delivery-Id"); v != event {
			t.Errorf("X-Hookguard-Delivery-Id: got %q, want the event UUID %q", v, event)
		}
		if v := got.Header.Get("X-Hookguard-Endpoint"); v != "gitlab" {
			t.Errorf("X-Hookguard-Endpoint: got %q, want gitlab", v)
		}
		if !bytes.Equal(got.Body, body) {
			t.Errorf("upstream body: got %q, want %q", got.Body, body)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		s.Upstream.Reset()
		r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/gitlab"), gitlabHeaders("wrong-"+gitlabToken, newUUID()), body)
		wantDenial(t, r, http.StatusUnauthorized, "signature_invalid", "gitlab")
		wantNothingUpstream(t, s)
	})
	t.Run("missing token", func(t *testing.T) {
		s.Upstream.Reset()
		h := gitlabHeaders(gitlabToken, newUUID())
		h.Del("X-Gitlab-Token")
		r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/gitlab"), h, body)
		wantDenial(t, r, http.StatusUnauthorized, "signature_missing", "gitlab")
		wantNothingUpstream(t, s)
	})
}

// Case i: Envoy's ext_authz counters agree with what was sent: allows count
// as ok, hookguard's denials as denied, and nothing as an error.
func TestExtAuthzStats(t *testing.T) {
	s := shared(t)
	names := []string{"ok", "denied", "error", "failure_mode_allowed"}
	read := func() map[string]int64 {
		m := map[string]int64{}
		for _, n := range names {
			v, err := s.Envoy.Counter("http.ingress_http.ext_authz." + n)
			if err != nil {
				t.Fatal(err)
			}
			m[n] = v
		}
		return m
	}
	before := read()

	body := []byte(`{"zen":"counted"}`)
	allows, denials := 2, 3
	for i := range allows {
		// Distinct bodies: an identical body is a replay (case c).
		body := fmt.Appendf(nil, `{"zen":"counted","n":%d}`, i)
		r := send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders(githubSecret, body, newUUID()), body)
		if r.Status != http.StatusOK {
			t.Fatalf("allow: got %s", r)
		}
	}
	send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders("forged", body, newUUID()), body)
	// A verify token in the query (as Meta sends) must not reach any log.
	queryToken := "query-token-" + randomHex(8)
	send(t, s.Client, http.MethodPost, s.URL("/nope?hub.verify_token="+queryToken), nil, body)
	send(t, s.Client, http.MethodGet, s.URL("/webhooks/gitlab"), nil, nil)

	after := read()
	want := map[string]int64{"ok": int64(allows), "denied": int64(denials), "error": 0, "failure_mode_allowed": 0}
	for _, n := range names {
		if d := after[n] - before[n]; d != want[n] {
			t.Errorf("ext_authz.%s moved by %d, want %d (before %d, after %d)", n, d, want[n], before[n], after[n])
		}
	}
	if after["denied"] < int64(denials) {
		t.Errorf("ext_authz.denied = %d, want >= %d", after["denied"], denials)
	}
}

// Case j: one JSON decision line per check, with endpoint, decision and
// reason, and never a secret or a signature anywhere in the log. Envoy's
// access log carries the same endpoint and reason via dynamic metadata.
func TestDecisionLog(t *testing.T) {
	s := shared(t)
	// Decision lines are written a few milliseconds after the answer
	// (through a buffer, so that a slow log never delays a decision): let
	// the lines of earlier tests arrive before counting them.
	var before []map[string]any
	prev := -1
	eventually(5*time.Second, func() bool {
		var err error
		if before, err = s.Hookguard.Decisions(); err != nil {
			t.Fatal(err)
		}
		settled := len(before) == prev
		prev = len(before)
		return settled
	})

	body := []byte(`{"zen":"logged"}`)
	delivery := newUUID()
	type want struct {
		endpoint, reason string
		allow            bool
		status           int
	}
	wants := []want{
		{"github", "ok", true, 200},
		{"github", "signature_invalid", false, 401},
		{"", "no_endpoint", false, 404},
		{"gitlab", "ok", true, 200},
	}
	send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders(githubSecret, body, delivery), body)
	send(t, s.Client, http.MethodPost, s.URL("/webhooks/github"), githubHeaders("forged", body, newUUID()), body)
	// A verify token in the query (as Meta sends) must not reach any log.
	queryToken := "query-token-" + randomHex(8)
	send(t, s.Client, http.MethodPost, s.URL("/nope?hub.verify_token="+queryToken), nil, body)
	send(t, s.Client, http.MethodPost, s.URL("/webhooks/gitlab"), gitlabHeaders(gitlabToken, newUUID()), body)

	var lines []map[string]any
	eventually(5*time.Second, func() bool {
		all, err := s.Hookguard.Decisions()
		if err != nil {
			t.Fatal(err)
		}
		lines = all[len(before):]
		return len(lines) >= len(wants)
	})
	if len(lines) != len(wants) {
		t.Fatalf("got %d new decision lines, want %d: %v", len(lines), len(wants), lines)
	}
	for i, w := range wants {
		l := lines[i]
		ep, _ := l["endpoint"].(string)
		reason, _ := l["reason"].(string)
		decision, _ := l["decision"].(string)
		status, _ := l["status"].(float64)
		if ep != w.endpoint || reason != w.reason || int(status) != w.status {
			t.Errorf("decision %d: got endpoint=%q reason=%q status=%v, want %q %q %d (line %v)",
				i, ep, reason, l["status"], w.endpoint, w.reason, w.status, l)
		}
		if isAllow := strings.HasPrefix(decision, "allow"); isAllow != w.allow {
			t.Errorf("decision %d: got decision=%q, want allow=%v (line %v)", i, decision, w.allow, l)
		}
	}
	if id, _ := lines[0]["delivery_id"].(string); id != delivery {
		t.Errorf("decision 0: delivery_id = %q, want %q", id, delivery)
	}

	raw, err := s.Hookguard.Log()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{githubSecret, gitlabToken, queryToken}
	sentMu.Lock()
	for _, sig := range sentSignatures {
		secrets = append(secrets, sig, strings.TrimPrefix(sig, "sha256="))
	}
	sentMu.Unlock()
	for _, sec := range secrets {
		if strings.Contains(raw, sec) {
			t.Errorf("hookguard log contains a secret or signature %q", sec)
		}
	}

	// Envoy's access log line for the allowed delivery names hookguard's
	// verdict (dynamic_metadata); access logs are written after the
	// response, hence the bounded wait.
	found := eventually(5*time.Second, func() bool {
		entries, err := s.Envoy.AccessLog()
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(entries, func(e map[string]any) bool {
			return e["hookguard_delivery_id"] == delivery && e["hookguard_endpoint"] == "github" &&
				e["hookguard_reason"] == "ok" && e["status"] == float64(200)
		})
	})
	if !found {
		t.Errorf("no Envoy access log line with hookguard_delivery_id=%s endpoint=github reason=ok status=200", delivery)
	}
	// Wait for the line of the /nope request too, whose query held a token.
	if !eventually(5*time.Second, func() bool {
		entries, _ := s.Envoy.AccessLog()
		return slices.ContainsFunc(entries, func(e map[string]any) bool {
			p, _ := e["path"].(string)
			return strings.HasPrefix(p, "/nope") && e["status"] == float64(404)
		})
	}) {
		t.Error("no Envoy access log line for /nope")
	}
	raw, err = readFile(s.Envoy.AccessLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, githubSecret) || strings.Contains(raw, gitlabToken) || strings.Contains(raw, queryToken) {
		t.Errorf("Envoy access log contains a secret")
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
