package daemon

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/extauthz"
	"github.com/hookguard/hookguard/authz/internal/webhooktest"
	"github.com/hookguard/hookguard/authz/verify"
)

// Bounds of one hostile check. The decision's own latency (the log's
// latency_us) is what hookguard controls; the round trip adds the
// transport of up to a few MiB on a loopback shared with other tests.
const (
	maxHostileDecision  = 100 * time.Millisecond
	maxHostileRoundTrip = 3 * time.Second
)

// hostileCase is a request a hostile sender (or a broken gateway) might
// send, and the precise decision hookguard must take on it.
type hostileCase struct {
	name string
	// req builds the request; id is unique to the case, for a delivery id
	// that no other case replays.
	req    func(t *testing.T, id string) *authv3.CheckRequest
	reason authz.Reason
	// detail, when set, is part of the logged detail: which check
	// refused, when the reason alone does not say.
	detail string
}

// hostileNow is when the hostile deliveries are signed: the daemon runs
// on the system clock.
var hostileNow = time.Now()

// hostileDelivery is a valid delivery to the webhooktest endpoint name.
func hostileDelivery(t *testing.T, name, id string) *authv3.CheckRequest {
	t.Helper()
	d, err := webhooktest.Lookup(name).Delivery(hostileNow, id)
	if err != nil {
		t.Fatal(err)
	}
	return d.Request
}

func httpOf(req *authv3.CheckRequest) *authv3.AttributeContext_HttpRequest {
	return req.GetAttributes().GetRequest().GetHttp()
}

// forged is a valid delivery whose body no longer matches its signature.
func forged(t *testing.T, name, id string) *authv3.CheckRequest {
	req := hostileDelivery(t, name, id)
	h := httpOf(req)
	h.RawBody[len(h.RawBody)/2] ^= 0x20
	return req
}

// manyHeaders adds n headers named prefix and a number.
func manyHeaders(req *authv3.CheckRequest, prefix string, n int) *authv3.CheckRequest {
	h := httpOf(req).Headers
	for i := range n {
		h[fmt.Sprintf("%s%05d", prefix, i)] = "v"
	}
	return req
}

// mac is the hex HMAC-SHA256 of parts under the endpoint's secret.
func mac(name string, parts ...string) []byte {
	m := hmac.New(sha256.New, []byte(webhooktest.Lookup(name).Secrets[0]))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// slackAt is a slack delivery whose timestamp header is ts, signed over
// that very text, so only the timestamp can be refused.
func slackAt(ts string) func(t *testing.T, id string) *authv3.CheckRequest {
	return func(t *testing.T, id string) *authv3.CheckRequest {
		req := hostileDelivery(t, "slack", id)
		h := httpOf(req)
		h.Headers[verify.SlackTimestampHeader] = ts
		h.Headers[verify.SlackSignatureHeader] = "v0=" + hex.EncodeToString(mac("slack", "v0:"+ts+":", string(h.RawBody)))
		return req
	}
}

// stripeAt is a stripe delivery with t=ts, signed over it.
func stripeAt(ts string) func(t *testing.T, id string) *authv3.CheckRequest {
	return func(t *testing.T, id string) *authv3.CheckRequest {
		req := hostileDelivery(t, "stripe", id)
		h := httpOf(req)
		h.Headers[verify.StripeSignatureHeader] = "t=" + ts + ",v1=" + hex.EncodeToString(mac("stripe", ts+".", string(h.RawBody)))
		return req
	}
}

// shopifySig is a shopify delivery whose signature header is edit(the
// valid one). want, if set, picks a delivery id whose signature holds one
// of its bytes.
func shopifySig(want string, edit func(sig string) string) func(t *testing.T, id string) *authv3.CheckRequest {
	return func(t *testing.T, id string) *authv3.CheckRequest {
		for i := 0; ; i++ {
			req := hostileDelivery(t, "shopify", id+"-"+strconv.Itoa(i))
			h := httpOf(req)
			sig := h.Headers[verify.ShopifySignatureHeader]
			if want != "" && !strings.ContainsAny(sig, want) {
				continue
			}
			h.Headers[verify.ShopifySignatureHeader] = edit(sig)
			return req
		}
	}
}

// signedEmpty is a github delivery with an empty body and its valid
// signature; header adds to it.
func signedEmpty(header map[string]string) func(t *testing.T, id string) *authv3.CheckRequest {
	return func(t *testing.T, id string) *authv3.CheckRequest {
		d, err := webhooktest.Lookup("github").Signed("POST", "/webhooks/github", "", nil, "", id, hostileNow)
		if err != nil {
			t.Fatal(err)
		}
		h := httpOf(d.Request)
		for k, v := range header {
			if v == "" {
				delete(h.Headers, k)
			} else {
				h.Headers[k] = v
			}
		}
		return d.Request
	}
}

// signedWith is a delivery to endpoint to, signed in its scheme with the
// secret of endpoint with.
func signedWith(to, with string) func(t *testing.T, id string) *authv3.CheckRequest {
	return func(t *testing.T, id string) *authv3.CheckRequest {
		e := webhooktest.Lookup(to)
		body := []byte(`{"id":"` + id + `"}`)
		signed, err := verify.Sign(e.Scheme, authz.Secret(webhooktest.Lookup(with).Secrets[0]),
			verify.Message{Body: body, Time: hostileNow, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		header := map[string]string{"content-type": "application/json", "content-length": strconv.Itoa(len(body))}
		for _, h := range signed {
			header[strings.ToLower(h.Name)] = h.Value
		}
		return webhooktest.NewCheckRequest("POST", webhooktest.Host, e.Path(), header, body)
	}
}

func hostileCases() []hostileCase {
	const mib = 1 << 20
	big := strings.Repeat("a", mib)
	return []hostileCase{
		// Thousands of headers. Envoy's default is 100 (max_headers_count);
		// a raw gRPC client sends what it likes.
		{"5000 headers, forged body", func(t *testing.T, id string) *authv3.CheckRequest {
			return manyHeaders(forged(t, "github", id), "x-junk-", 5000)
		}, authz.SignatureInvalid, "no secret matches"},
		{"5000 headers, unknown path", func(t *testing.T, id string) *authv3.CheckRequest {
			req := manyHeaders(forged(t, "github", id), "x-junk-", 5000)
			httpOf(req).Path = "/nowhere"
			return req
		}, authz.NoEndpoint, ""},
		{"5000 spoofed trust headers, forged body", func(t *testing.T, id string) *authv3.CheckRequest {
			return manyHeaders(forged(t, "github", id), "x_hookguard_", 5000)
		}, authz.SignatureInvalid, "no secret matches"},

		// A MiB where a few bytes belong.
		{"1 MiB signature header", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Headers[verify.GitHubSignatureHeader] = "sha256=" + big
			return req
		}, authz.SignatureInvalid, "not 64 hex digits"},
		{"1 MiB signature header, a scheme that lists signatures", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "stripe", id)
			httpOf(req).Headers[verify.StripeSignatureHeader] = "v1=" + big
			return req
		}, authz.SignatureInvalid, "longer than 4096 bytes"},
		{"1 MiB unrelated header, forged body", func(t *testing.T, id string) *authv3.CheckRequest {
			req := forged(t, "github", id)
			httpOf(req).Headers["x-padding"] = big
			return req
		}, authz.SignatureInvalid, "no secret matches"},
		{"1 MiB timestamp header", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "slack", id)
			httpOf(req).Headers[verify.SlackTimestampHeader] = big
			return req
		}, authz.SignatureInvalid, "longer than 40 bytes"},
		{"1 MiB delivery id", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "standard-webhooks", id)
			httpOf(req).Headers[verify.StandardWebhooksIDHeader] = big
			return req
		}, authz.SignatureInvalid, "longer than 256 bytes"},
		{"1 MiB path", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Path = "/webhooks/github/" + big
			return req
		}, authz.NonCanonicalRequest, "longer than 2048 bytes"},
		{"1 MiB method", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Method = "P" + big
			return req
		}, authz.MethodNotAllowed, ""},
		{"1 MiB authority", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Host = big
			return req
		}, authz.NonCanonicalRequest, "malformed :authority"},
		{"1 MiB body, forged", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			h := httpOf(req)
			h.RawBody = []byte(big)
			h.Headers["content-length"] = strconv.Itoa(mib)
			return req
		}, authz.SignatureInvalid, "no secret matches"},
		{"3 MiB body under the gRPC limit, forged", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "http-message-signatures", id)
			h := httpOf(req)
			h.RawBody = bytes.Repeat([]byte("b"), 3*mib)
			h.Headers["content-length"] = strconv.Itoa(3 * mib)
			return req
		}, authz.SignatureInvalid, "Content-Digest does not match"},

		// NUL bytes: valid UTF-8, so they cross the wire.
		{"NUL in the path", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Path = "/webhooks/github\x00/x"
			return req
		}, authz.NonCanonicalRequest, "control"},
		{"encoded NUL in the path", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Path = "/webhooks/github%00"
			return req
		}, authz.NonCanonicalRequest, "encoded"},
		{"NUL in the authority", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Host = webhooktest.Host + "\x00.evil"
			return req
		}, authz.NonCanonicalRequest, "malformed :authority"},
		{"NUL in the signature", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			h := httpOf(req)
			sig := []byte(h.Headers[verify.GitHubSignatureHeader])
			sig[10] = 0
			h.Headers[verify.GitHubSignatureHeader] = string(sig)
			return req
		}, authz.SignatureInvalid, "not hex"},
		{"NUL in the body, forged", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			h := httpOf(req)
			h.RawBody[3] = 0
			return req
		}, authz.SignatureInvalid, "no secret matches"},
		{"NUL in the token", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "token", id)
			httpOf(req).Headers["x-gitlab-token"] += "\x00"
			return req
		}, authz.SignatureInvalid, ""},

		// Invalid UTF-8 where bytes are allowed: the body.
		{"invalid UTF-8 in the body, forged", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			h := httpOf(req)
			h.RawBody = append(h.RawBody[:len(h.RawBody)-1], 0xff, 0xfe, '}')
			h.Headers["content-length"] = strconv.Itoa(len(h.RawBody))
			return req
		}, authz.SignatureInvalid, "no secret matches"},

		// Repeated signature headers: Envoy joins them with ", ".
		{"the signature twice, comma-joined", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			h := httpOf(req)
			h.Headers[verify.GitHubSignatureHeader] += ", " + h.Headers[verify.GitHubSignatureHeader]
			return req
		}, authz.SignatureInvalid, "hex digits"},
		{"a forged signature header and the valid one, comma-joined", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "stripe", id)
			h := httpOf(req)
			h.Headers[verify.StripeSignatureHeader] = "t=1,v1=00, " + h.Headers[verify.StripeSignatureHeader]
			return req
		}, authz.SignatureInvalid, "more than one t"},
		{"17 signatures in one header", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "stripe", id)
			h := httpOf(req)
			h.Headers[verify.StripeSignatureHeader] += strings.Repeat(",v1=00", 16)
			return req
		}, authz.SignatureInvalid, "more than 16 signatures"},
		{"mixed case: a forged lower-case header and a valid upper-case one", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			h := httpOf(req)
			h.Headers["X-Hub-Signature-256"] = h.Headers[verify.GitHubSignatureHeader]
			h.Headers[verify.GitHubSignatureHeader] = "sha256=" + strings.Repeat("0", 64)
			return req
		}, authz.SignatureInvalid, "no secret matches"},
		{"mixed case: the valid signature only in upper case", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			h := httpOf(req)
			h.Headers["X-Hub-Signature-256"] = h.Headers[verify.GitHubSignatureHeader]
			delete(h.Headers, verify.GitHubSignatureHeader)
			return req
		}, authz.SignatureMissing, ""},
		{"raw header map: the signature twice, in two cases", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			h := httpOf(req)
			sig := h.Headers[verify.GitHubSignatureHeader]
			h.HeaderMap = &corev3.HeaderMap{}
			for k, v := range h.Headers {
				h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
			}
			h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: "X-Hub-Signature-256", RawValue: []byte(sig)})
			h.Headers = nil
			return req
		}, authz.SignatureInvalid, "hex digits"},

		// An empty body with the signature of an empty body is a valid
		// delivery, unless the request declares a body Envoy did not send.
		{"signed empty body", signedEmpty(nil), authz.OK, ""},
		{"signed empty body, content-length 120", signedEmpty(map[string]string{"content-length": "120"}), authz.BodyNotForwarded, "content-length 120 but 0 body bytes"},
		{"signed empty body, chunked", signedEmpty(map[string]string{"content-length": "", "transfer-encoding": "chunked"}), authz.BodyNotForwarded, "chunked body"},
		{"signed empty body, content-length -1", signedEmpty(map[string]string{"content-length": "-1"}), authz.NonCanonicalRequest, "malformed content-length"},

		// Timestamps: signed over their very text, so only the time can
		// be refused.
		{"negative timestamp", slackAt("-1"), authz.SignatureInvalid, "not a Unix time"},
		{"timestamp of 20 digits", slackAt("18446744073709551617"), authz.SignatureInvalid, "not a Unix time"},
		{"timestamp with a plus sign", slackAt("+" + strconv.FormatInt(hostileNow.Unix(), 10)), authz.SignatureInvalid, "not a Unix time"},
		{"timestamp with a leading zero", slackAt("0" + strconv.FormatInt(hostileNow.Unix(), 10)), authz.SignatureInvalid, "not a Unix time"},
		{"timestamp with spaces", slackAt(" " + strconv.FormatInt(hostileNow.Unix(), 10)), authz.SignatureInvalid, "not a Unix time"},
		{"timestamp in the year 318857", slackAt("9999999999999"), authz.TimestampOutOfWindow, "in the future"},
		{"timestamp zero", stripeAt("0"), authz.TimestampOutOfWindow, "older than"},
		{"timestamp of 2^63", stripeAt("9223372036854775808"), authz.SignatureInvalid, ""},

		// base64 spelt wrongly. Padded and unpadded spellings of the same
		// MAC both verify (documented); anything else does not.
		{"base64 with a space inside", shopifySig("", func(s string) string { return s[:10] + " " + s[10:] }), authz.SignatureInvalid, "not base64"},
		{"base64 with a trailing newline", shopifySig("", func(s string) string { return s + "\n" }), authz.SignatureInvalid, "not base64"},
		{"base64 with three padding characters", shopifySig("", func(s string) string { return strings.TrimRight(s, "=") + "===" }), authz.SignatureInvalid, "not base64"},
		{"base64 with padding inside", shopifySig("", func(s string) string { return s[:8] + "=" + s[9:] }), authz.SignatureInvalid, "not base64"},
		{"base64 in the URL alphabet", shopifySig("+/", func(s string) string {
			return strings.NewReplacer("+", "-", "/", "_").Replace(s)
		}), authz.SignatureInvalid, "not base64"},
		{"base64 truncated by one character", shopifySig("", func(s string) string { return strings.TrimRight(s, "=")[:42] }), authz.SignatureInvalid, "not base64"},

		// Another endpoint's secret.
		{"github signature made with stripe's secret", signedWith("github", "stripe"), authz.SignatureInvalid, "no secret matches"},
		{"shopify signature made with github's secret", signedWith("shopify", "github"), authz.SignatureInvalid, "no secret matches"},
		{"token endpoint given github's secret", signedWith("token", "github"), authz.SignatureInvalid, ""},
		{"github delivery sent to shopify's path", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Path = "/webhooks/shopify"
			return req
		}, authz.SignatureMissing, ""},
		{"meta handshake with github's secret as verify token", func(t *testing.T, id string) *authv3.CheckRequest {
			q := "hub.mode=subscribe&hub.challenge=c&hub.verify_token=" + webhooktest.Lookup("github").Secrets[0]
			return webhooktest.NewCheckRequest("GET", webhooktest.Host, "/webhooks/meta?"+q, nil, nil)
		}, authz.SignatureInvalid, "matches no verify token"},
		{"zoom url_validation with a forged signature", func(t *testing.T, id string) *authv3.CheckRequest {
			d, _ := webhooktest.Lookup("zoom").Handshake(hostileNow)
			h := httpOf(d.Request)
			h.Headers[verify.ZoomSignatureHeader] = "v0=" + strings.Repeat("0", 64)
			return d.Request
		}, authz.SignatureInvalid, "no secret matches"},
	}
}

// TestHostileInput sends each hostile case through the real gRPC server
// (Run on loopback, with the default receive limit) and checks its precise
// decision, status and logged detail, and that it was decided within
// maxHostileDecision.
func TestHostileInput(t *testing.T) {
	logs := &syncBuffer{}
	dir := t.TempDir()
	if err := webhooktest.WritePolicy(dir); err != nil {
		t.Fatal(err)
	}
	r := startWith(t, Config{PolicyDir: dir, Secrets: webhooktest.NewSecrets(), Log: zerolog.New(logs)})
	client := authv3.NewAuthorizationClient(r.conn)
	for i, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			id := "hostile-" + strconv.Itoa(i)
			req := c.req(t, id)
			rid := "rid-" + id
			if h := httpOf(req); h.Headers != nil {
				h.Headers["x-request-id"] = rid
			} else {
				for _, hv := range h.HeaderMap.Headers {
					if hv.Key == "x-request-id" {
						hv.RawValue = []byte(rid)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			resp, err := client.Check(ctx, req, grpc.MaxCallSendMsgSize(8<<20))
			roundTrip := time.Since(start)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			checkDecision(t, resp, c)
			line := decisionLine(t, logs, rid)
			if got := fmt.Sprint(line["reason"]); got != string(c.reason) {
				t.Errorf("logged reason %s, want %s", got, c.reason)
			}
			if detail := fmt.Sprint(line["detail"]); c.detail != "" && !strings.Contains(detail, c.detail) {
				t.Errorf("logged detail %q, want it to contain %q", detail, c.detail)
			}
			latency := time.Duration(line["latency_us"].(float64)) * time.Microsecond
			if latency > maxHostileDecision || roundTrip > maxHostileRoundTrip {
				t.Errorf("decided in %v (limit %v), round trip %v (limit %v)", latency, maxHostileDecision, roundTrip, maxHostileRoundTrip)
			}
		})
	}
}

// checkDecision checks an answer against the case's reason: a denial with
// the reason's status and JSON body, or for ok a forwarded request.
func checkDecision(t *testing.T, resp *authv3.CheckResponse, c hostileCase) {
	t.Helper()
	if got := resp.GetDynamicMetadata().GetFields()["reason"].GetStringValue(); got != string(c.reason) {
		t.Fatalf("reason %s, want %s", got, c.reason)
	}
	if c.reason == authz.OK {
		if resp.GetOkResponse() == nil {
			t.Fatalf("not forwarded: %v", resp)
		}
		return
	}
	d := resp.GetDeniedResponse()
	if d == nil || int(d.GetStatus().GetCode()) != c.reason.Status() {
		t.Fatalf("answer %v, want a denial with status %d", resp, c.reason.Status())
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(d.GetBody()), &body); err != nil || body["error"] != string(c.reason) {
		t.Fatalf("denial body %q", d.GetBody())
	}
}

// decisionLine returns the decision log line of the request rid.
func decisionLine(t *testing.T, logs *syncBuffer, rid string) map[string]any {
	t.Helper()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, raw := range bytes.Split(logs.b.Bytes(), []byte("\n")) {
		if !bytes.Contains(raw, []byte(rid)) {
			continue
		}
		var l map[string]any
		if json.Unmarshal(raw, &l) == nil && l["request_id"] == rid && l["message"] == "decision" {
			return l
		}
	}
	t.Fatalf("no decision line for %s", rid)
	return nil
}

// TestHostileBodyOverTheGRPCLimit: a message over the daemon's receive
// limit (DefaultMaxRecvBytes, --max-body-bytes) never reaches the adapter.
// gRPC refuses it with ResourceExhausted; Envoy turns any gRPC error into
// its status_on_error (503 in envoy/envoy.yaml.tmpl, so providers retry)
// and never forwards the request, with failure_mode_allow false. In
// practice Envoy answers 413 itself first, as its max_request_bytes is
// below the limit.
func TestHostileBodyOverTheGRPCLimit(t *testing.T) {
	dir := t.TempDir()
	if err := webhooktest.WritePolicy(dir); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	r := startWith(t, Config{PolicyDir: dir, Secrets: webhooktest.NewSecrets(), Log: zerolog.New(logs)})
	req := hostileDelivery(t, "github", "over-limit")
	httpOf(req).RawBody = make([]byte, DefaultMaxRecvBytes)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := authv3.NewAuthorizationClient(r.conn).Check(ctx, req, grpc.MaxCallSendMsgSize(16<<20))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "received message larger than max") {
		t.Fatalf("Check of a %d-byte message: %v, want ResourceExhausted", proto.Size(req), err)
	}
	if d := time.Since(start); d > maxHostileRoundTrip {
		t.Errorf("refused in %v", d)
	}
	if strings.Contains(string(logs.b.Bytes()), `"message":"decision"`) {
		t.Error("a message over the limit reached the adapter")
	}
	// The server is still there.
	if resp := checkVia(t, r.conn, hostileDelivery(t, "github", "after-limit")); resp.GetOkResponse() == nil {
		t.Fatalf("a valid delivery after the refused one: %v", resp)
	}
}

func checkVia(t *testing.T, conn *grpc.ClientConn, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// rawCodec sends bytes as they are, so a test can put on the wire what a
// protobuf library would refuse to encode.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return proto.Marshal(v.(proto.Message))
}

func (rawCodec) Unmarshal(data []byte, v any) error { return proto.Unmarshal(data, v.(proto.Message)) }
func (rawCodec) Name() string                       { return "proto" }

// TestHostileInvalidUTF8OnTheWire: protobuf strings must be UTF-8, and
// gRPC refuses a CheckRequest whose header, path or method is not before
// hookguard sees it (Internal: Envoy answers status_on_error, 503). Envoy
// itself never sends one: it replaces invalid bytes in header values with
// '!', and sends the body as bytes. TestHostileInvalidUTF8InTheAdapter
// checks the adapter would still deny.
func TestHostileInvalidUTF8OnTheWire(t *testing.T) {
	dir := t.TempDir()
	if err := webhooktest.WritePolicy(dir); err != nil {
		t.Fatal(err)
	}
	r := startWith(t, Config{PolicyDir: dir, Secrets: webhooktest.NewSecrets(), Log: zerolog.Nop()})
	req := hostileDelivery(t, "github", "bad-utf8")
	// A marker of the same length, then the invalid bytes in its place.
	httpOf(req).Headers[verify.GitHubDeliveryHeader] = "MARKER"
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("MARKER"), []byte("MA\xff\xfeER"), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var resp authv3.CheckResponse
	err = r.conn.Invoke(ctx, "/envoy.service.auth.v3.Authorization/Check", &b, &resp, grpc.ForceCodec(rawCodec{}))
	if status.Code(err) != codes.Internal {
		t.Fatalf("invalid UTF-8 on the wire: %v, want Internal", err)
	}
}

// TestHostileInvalidUTF8InTheAdapter gives the adapter what the wire
// refuses: invalid UTF-8 in the header values, path, method and authority
// a Go caller can still build. Each is denied precisely.
func TestHostileInvalidUTF8InTheAdapter(t *testing.T) {
	p, err := webhooktest.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := extauthz.NewServer(webhooktest.NewAuthorizer(p, authz.SystemClock{}), extauthz.Config{})
	for _, c := range []hostileCase{
		{"in the signature", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Headers[verify.GitHubSignatureHeader] = "sha256=\xff\xfe" + strings.Repeat("0", 62)
			return req
		}, authz.SignatureInvalid, ""},
		{"in the timestamp", slackAt("17\xff0000000"), authz.SignatureInvalid, ""},
		{"in the base64", shopifySig("", func(s string) string { return s[:4] + "\xc3\xa9" + s[6:] }), authz.SignatureInvalid, ""},
		{"in the path", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Path = "/webhooks/github/\xff"
			return req
		}, authz.NonCanonicalRequest, ""},
		{"in the authority", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Host = "hooks.example.com\xff"
			return req
		}, authz.NonCanonicalRequest, ""},
		{"in the method", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "github", id)
			httpOf(req).Method = "PO\xffST"
			return req
		}, authz.MethodNotAllowed, ""},
		{"in the token", func(t *testing.T, id string) *authv3.CheckRequest {
			req := hostileDelivery(t, "token", id)
			httpOf(req).Headers["x-gitlab-token"] = "\xff" + httpOf(req).Headers["x-gitlab-token"]
			return req
		}, authz.SignatureInvalid, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := c.req(t, "utf8-"+c.name)
			start := time.Now()
			resp, err := s.Check(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > maxHostileDecision {
				t.Errorf("decided in %v", d)
			}
			checkDecision(t, resp, c)
		})
	}
}
