package extauthz

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/verify"
)

const secret = "adapter-test-secret"

func sign(body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

type testServer struct {
	*Server
	logs    *bytes.Buffer
	metrics *Metrics
}

func newTestServer(t *testing.T) testServer {
	t.Helper()
	p, err := authz.NewPolicy("rev-1", []*authz.Endpoint{{
		Name:          "github",
		Match:         authz.Match{PathPrefix: "/webhooks/github"},
		Verifier:      verify.NewGitHub([]authz.Secret{authz.Secret(secret)}),
		ReplayTTL:     time.Minute,
		SetHeaders:    []authz.HeaderValue{{Name: "x-webhook-source", Value: "github"}},
		RemoveHeaders: []string{"x-hub-signature-256"},
	}, {
		Name:     "gitlab",
		Verifier: verify.NewToken("x-gitlab-token", "", "", []authz.Secret{authz.Secret("tok")}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 100})})
	a.SetPolicy(p)
	var logs bytes.Buffer
	m := NewMetrics(prometheus.NewRegistry())
	return testServer{NewServer(a, Config{Log: zerolog.New(&logs), Metrics: m}), &logs, m}
}

func checkRequest(path string, headers map[string]string, body []byte, ext map[string]string) *authv3.CheckRequest {
	h := map[string]string{":method": "POST", ":path": path, ":authority": "hooks.example.com", "x-request-id": "rid-42"}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: "::ffff:203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 50123}}}},
			Principal: "spiffe://example.org/ns/ci/sa/github",
		},
		ContextExtensions: ext,
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "envoy-stream-1", Method: "POST", Host: "hooks.example.com", Path: path, Scheme: "https",
			Headers: h, RawBody: body,
		}},
	}}
}

func TestCheckAllowResponse(t *testing.T) {
	s := newTestServer(t)
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	resp, err := s.Check(context.Background(), checkRequest("/webhooks/github/org?x=1", map[string]string{
		"x-hub-signature-256":  sign(string(body)),
		"x-github-delivery":    "d-1",
		"x-hookguard-verified": "spoofed",
		"x-hookguard-admin":    "true",
	}, body, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus().GetCode() != int32(code.Code_OK) {
		t.Fatalf("status %v", resp.GetStatus())
	}
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("no OkResponse: %v", resp)
	}
	got := map[string]string{}
	for _, h := range ok.GetHeaders() {
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("%s: append_action %v, want explicit overwrite", h.GetHeader().GetKey(), h.GetAppendAction())
		}
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	want := map[string]string{
		"x-hookguard-endpoint":    "github",
		"x-hookguard-verified":    "github",
		"x-hookguard-delivery-id": "d-1",
		"x-webhook-source":        "github",
	}
	if len(got) != len(want) {
		t.Errorf("headers %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q", k, got[k], v)
		}
	}
	remove := strings.Join(ok.GetHeadersToRemove(), ",")
	if !strings.Contains(remove, "x-hub-signature-256") || !strings.Contains(remove, "x-hookguard-admin") || strings.Contains(remove, "x-hookguard-verified") {
		t.Errorf("headers to remove %q", remove)
	}
	md := resp.GetDynamicMetadata().GetFields()
	if md["endpoint"].GetStringValue() != "github" || md["reason"].GetStringValue() != "ok" || md["delivery_id"].GetStringValue() != "d-1" {
		t.Errorf("dynamic metadata %v", md)
	}
	// The allowed delivery's nonce claim, for the access log service.
	var claim authz.Nonces
	if err := claim.UnmarshalText([]byte(md[MetadataReplayClaim].GetStringValue())); err != nil || claim.Endpoint != "github" || len(claim.Keys) != 1 {
		t.Errorf("replay claim %q: %+v %v", md[MetadataReplayClaim].GetStringValue(), claim, err)
	}
	if strings.Contains(s.logs.String(), md[MetadataReplayClaim].GetStringValue()[len("github:"):]) {
		t.Error("the claim's token is in the decision log")
	}

	var line map[string]any
	if err := json.Unmarshal(s.logs.Bytes(), &line); err != nil {
		t.Fatalf("log is not one JSON line: %q", s.logs.String())
	}
	for k, v := range map[string]any{"request_id": "rid-42", "endpoint": "github", "decision": "allow", "reason": "ok",
		"status": 200.0, "mode": "enforce", "source": "203.0.113.7", "scheme": "github", "delivery_id": "d-1", "policy_revision": "rev-1"} {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["latency_us"]; !ok {
		t.Error("log lacks latency_us")
	}
	if c := testutil.ToFloat64(s.metrics.decisions.WithLabelValues("github", "allow", "ok", "enforce")); c != 1 {
		t.Errorf("decisions counter %v", c)
	}
}

func TestCheckDenyResponses(t *testing.T) {
	body := []byte(`{"a":1}`)
	tests := []struct {
		name     string
		req      *authv3.CheckRequest
		status   int32
		grpcCode code.Code
		reason   string
		endpoint string
	}{
		{"forged", checkRequest("/webhooks/github", map[string]string{"x-hub-signature-256": sign("other")}, body, nil), 401, code.Code_UNAUTHENTICATED, "signature_invalid", "github"},
		{"missing", checkRequest("/webhooks/github", nil, body, nil), 401, code.Code_UNAUTHENTICATED, "signature_missing", "github"},
		{"unknown path", checkRequest("/nope", nil, body, nil), 404, code.Code_NOT_FOUND, "no_endpoint", ""},
		{"unknown named endpoint", checkRequest("/webhooks/github", nil, body, map[string]string{"hookguard.endpoint": "nope"}), 404, code.Code_NOT_FOUND, "no_endpoint", ""},
		{"partial body", checkRequest("/webhooks/github", map[string]string{"x-hub-signature-256": sign(string(body)), "x-envoy-auth-partial-body": "true"}, body, nil), 413, code.Code_PERMISSION_DENIED, "body_truncated", "github"},
		{"named endpoint wrong token", checkRequest("/anything", map[string]string{"x-gitlab-token": "nope"}, body, map[string]string{"hookguard.endpoint": "gitlab"}), 401, code.Code_UNAUTHENTICATED, "signature_invalid", "gitlab"},
	}
	s := newTestServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := s.Check(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetStatus().GetCode() != int32(tt.grpcCode) {
				t.Errorf("grpc code %v, want %v", resp.GetStatus().GetCode(), tt.grpcCode)
			}
			d := resp.GetDeniedResponse()
			if d == nil || int32(d.GetStatus().GetCode()) != tt.status {
				t.Fatalf("denied response %v, want status %d", d, tt.status)
			}
			if len(d.GetHeaders()) != 1 || d.GetHeaders()[0].GetHeader().GetKey() != "content-type" || d.GetHeaders()[0].GetHeader().GetValue() != "application/json" {
				t.Errorf("headers %v", d.GetHeaders())
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(d.GetBody()), &got); err != nil {
				t.Fatalf("body %q: %v", d.GetBody(), err)
			}
			want := map[string]string{"error": tt.reason, "request_id": "rid-42"}
			if tt.endpoint != "" {
				want["endpoint"] = tt.endpoint
			}
			if len(got) != len(want) || got["error"] != want["error"] || got["endpoint"] != want["endpoint"] || got["request_id"] != want["request_id"] {
				t.Errorf("body %v, want %v", got, want)
			}
		})
	}
}

func TestUnavailableHasRetryAfter(t *testing.T) {
	s := NewServer(authz.NewAuthorizer(authz.Config{}), Config{}) // no policy
	resp, _ := s.Check(context.Background(), checkRequest("/x", nil, nil, nil))
	d := resp.GetDeniedResponse()
	if d.GetStatus().GetCode() != 503 || resp.GetStatus().GetCode() != int32(code.Code_UNAVAILABLE) {
		t.Fatalf("%v", resp)
	}
	var retry string
	for _, h := range d.GetHeaders() {
		if h.GetHeader().GetKey() == "retry-after" {
			retry = h.GetHeader().GetValue()
		}
	}
	if retry != "5" {
		t.Errorf("retry-after %q", retry)
	}
}

// panicVerifier stands for a bug in a verifier.
type panicVerifier struct{}

func (panicVerifier) Scheme() string { return "panic" }
func (panicVerifier) Verify(*authz.Request, time.Time) (authz.Verified, error) {
	panic("bug")
}

func TestPanicFailsClosed(t *testing.T) {
	p, _ := authz.NewPolicy("r", []*authz.Endpoint{{Name: "p", Match: authz.Match{PathPrefix: "/"}, Verifier: panicVerifier{}}})
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 1})})
	a.SetPolicy(p)
	var logs bytes.Buffer
	s := NewServer(a, Config{Log: zerolog.New(&logs)})
	resp, err := s.Check(context.Background(), checkRequest("/x", nil, nil, nil))
	if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 503 {
		t.Fatalf("panic answered %v, %v", resp, err)
	}
	if !strings.Contains(logs.String(), `"reason":"unavailable"`) {
		t.Errorf("panic not logged as unavailable: %s", logs.String())
	}
}

func TestRequestFromCheck(t *testing.T) {
	req := checkRequest("/webhooks/github/x?a=1&b=%20", map[string]string{"x-envoy-auth-partial-body": "false"}, []byte{0xff, 0x00}, map[string]string{"k": "v"})
	req.GetAttributes().GetSource().Certificate = url.QueryEscape("-----BEGIN CERTIFICATE-----")
	r := requestFromCheck(req)
	if r.Path != "/webhooks/github/x" || r.Query != "a=1&b=%20" || r.Method != "POST" || r.Scheme != "https" || r.Host != "hooks.example.com" {
		t.Errorf("request line: %+v", r)
	}
	if r.ID != "rid-42" || !bytes.Equal(r.Body, []byte{0xff, 0x00}) || r.BodyTruncated {
		t.Errorf("id %q body %x truncated %v", r.ID, r.Body, r.BodyTruncated)
	}
	if r.Source.String() != "203.0.113.7:50123" || r.Principal != "spiffe://example.org/ns/ci/sa/github" || r.Certificate == "" {
		t.Errorf("peer: %v %q %q", r.Source, r.Principal, r.Certificate)
	}
	req.GetAttributes().GetSource().GetAddress().GetSocketAddress().Address = "fe80::1%eth0"
	if got := requestFromCheck(req).Source.Addr(); got != netip.MustParseAddr("fe80::1") {
		t.Errorf("zoned source %v: want the zone dropped", got)
	}
	if r.ContextExtensions["k"] != "v" {
		t.Errorf("extensions %v", r.ContextExtensions)
	}

	// Without pack_as_bytes the body arrives as a string; without
	// x-request-id the stream id stands in.
	h := req.GetAttributes().GetRequest().GetHttp()
	h.RawBody, h.Body = nil, "text body"
	delete(h.Headers, "x-request-id")
	r = requestFromCheck(req)
	if string(r.Body) != "text body" || r.ID != "envoy-stream-1" {
		t.Errorf("fallbacks: body %q id %q", r.Body, r.ID)
	}

	// encode_raw_headers: the header map, joined like Envoy joins them.
	h.Headers = nil
	h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "X-Hub-Signature-256", RawValue: []byte("sha256=ab")},
		{Key: "x-multi", Value: "a"}, {Key: "x-multi", Value: "b"},
	}}
	r = requestFromCheck(req)
	if r.Header.Get("x-hub-signature-256") != "sha256=ab" || r.Header.Get("x-multi") != "a, b" {
		t.Errorf("header map: %v", r.Header)
	}
}

func TestHandshakeResponse(t *testing.T) {
	d := authz.Decision{Reason: authz.Handshake, Response: &authz.Response{ContentType: "text/plain", Body: []byte("challenge-1")}}
	a := d.Answer()
	resp := responseFromAnswer(&d, &a)
	dr := resp.GetDeniedResponse()
	if resp.GetStatus().GetCode() == 0 || dr.GetStatus().GetCode() != 200 || dr.GetBody() != "challenge-1" || dr.GetHeaders()[0].GetHeader().GetValue() != "text/plain" {
		t.Fatalf("%v", resp)
	}
}

// logLine parses the one JSON log line a check wrote, and resets the logs.
func (s testServer) logLine(t *testing.T) map[string]any {
	t.Helper()
	var line map[string]any
	if err := json.Unmarshal(s.logs.Bytes(), &line); err != nil {
		t.Fatalf("log is not one JSON line: %q", s.logs.String())
	}
	s.logs.Reset()
	return line
}

func TestDryRunFailureIsLoggedDenyAndGoesUpstream(t *testing.T) {
	p, err := authz.NewPolicy("rev-1", []*authz.Endpoint{{
		Name:     "dry",
		Match:    authz.Match{PathPrefix: "/dry"},
		Verifier: verify.NewGitHub([]authz.Secret{authz.Secret(secret)}),
		DryRun:   true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := authz.NewAuthorizer(authz.Config{})
	a.SetPolicy(p)
	var logs bytes.Buffer
	m := NewMetrics(prometheus.NewRegistry())
	s := testServer{NewServer(a, Config{Log: zerolog.New(&logs), Metrics: m}), &logs, m}

	resp, _ := s.Check(context.Background(), checkRequest("/dry", map[string]string{"x-hub-signature-256": sign("other")}, []byte("x"), nil))
	ok := resp.GetOkResponse()
	if ok == nil || resp.GetStatus().GetCode() != int32(code.Code_OK) {
		t.Fatalf("a DRY_RUN failure did not go upstream: %v", resp)
	}
	for _, h := range ok.GetHeaders() {
		if h.GetHeader().GetKey() == authz.HeaderVerified {
			t.Errorf("a DRY_RUN failure is marked verified")
		}
	}
	line := s.logLine(t)
	for k, v := range map[string]any{"level": "warn", "decision": "deny", "mode": "dry_run", "reason": "signature_invalid", "status": 200.0, "endpoint": "dry"} {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	if c := testutil.ToFloat64(m.decisions.WithLabelValues("dry", "deny", "signature_invalid", "dry_run")); c != 1 {
		t.Errorf("decisions{dry,deny,signature_invalid,dry_run} = %v, want 1", c)
	}
}

func TestDecisionLogLevels(t *testing.T) {
	s := newTestServer(t)
	body := []byte(`{"a":1}`)
	tests := []struct {
		name   string
		req    *authv3.CheckRequest
		level  string
		detail string
	}{
		{"allowed", checkRequest("/webhooks/github", map[string]string{"x-hub-signature-256": sign(string(body))}, body, nil), "info", ""},
		{"forged", checkRequest("/webhooks/github", map[string]string{"x-hub-signature-256": sign("other")}, body, nil), "warn", "no secret matches"},
		{"unknown path, a scanner", checkRequest("/wp-login.php", nil, body, nil), "info", ""},
		{"route names an unknown endpoint", checkRequest("/webhooks/github", nil, body, map[string]string{"hookguard.endpoint": "githup"}), "info", `"githup"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Check(context.Background(), tt.req)
			line := s.logLine(t)
			if line["level"] != tt.level {
				t.Errorf("level %v, want %s (line %v)", line["level"], tt.level, line)
			}
			detail, _ := line["detail"].(string)
			if tt.detail == "" && detail != "" || !strings.Contains(detail, tt.detail) {
				t.Errorf("detail %q, want it to contain %q", detail, tt.detail)
			}
		})
	}
}

func TestLogLevelOfEveryReason(t *testing.T) {
	want := map[authz.Reason]zerolog.Level{
		authz.OK:                        zerolog.InfoLevel,
		authz.Handshake:                 zerolog.InfoLevel,
		authz.NoEndpoint:                zerolog.InfoLevel,
		authz.MethodNotAllowed:          zerolog.InfoLevel,
		authz.SourceNotAllowed:          zerolog.WarnLevel,
		authz.ClientCertificateRequired: zerolog.WarnLevel,
		authz.ClientIdentityDenied:      zerolog.WarnLevel,
		authz.RateLimited:               zerolog.WarnLevel,
		authz.SignatureMissing:          zerolog.WarnLevel,
		authz.SignatureInvalid:          zerolog.WarnLevel,
		authz.TimestampOutOfWindow:      zerolog.WarnLevel,
		authz.Replayed:                  zerolog.WarnLevel,
		authz.BodyTruncated:             zerolog.WarnLevel,
		authz.BodyTooLarge:              zerolog.WarnLevel,
		authz.UnsupportedMediaType:      zerolog.WarnLevel,
		authz.MalformedPayload:          zerolog.WarnLevel,
		authz.SchemaViolation:           zerolog.WarnLevel,
		authz.NonCanonicalRequest:       zerolog.WarnLevel,
		authz.BodyNotForwarded:          zerolog.ErrorLevel,
		authz.Unavailable:               zerolog.ErrorLevel,
		authz.Reason("made_up"):         zerolog.ErrorLevel,
	}
	for _, r := range authz.Reasons() {
		if _, ok := want[r]; !ok {
			t.Errorf("reason %s has no level in this test: add it, and to logLevel's list", r)
		}
	}
	for r, lvl := range want {
		for _, dry := range []bool{false, true} {
			if got := logLevel(&authz.Decision{Reason: r, DryRun: dry}); got != lvl {
				t.Errorf("%s (dry run %v): level %s, want %s", r, dry, got, lvl)
			}
		}
	}
}
