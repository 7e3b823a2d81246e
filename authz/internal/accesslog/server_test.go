package accesslog

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/extauthz"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/verify"
)

const secret = "als-test-secret"

// fixture is an ext_authz server and the access log service sharing one
// nonce store, both on one gRPC server, as hookguard serve runs them.
type fixture struct {
	check *extauthz.Server
	als   alsv3.AccessLogServiceClient
	srv   *Server
	logs  *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p, err := authz.NewPolicy("rev", []*authz.Endpoint{{
		Name:      "github",
		Match:     authz.Match{PathPrefix: "/webhooks/github"},
		Verifier:  verify.NewGitHub([]authz.Secret{authz.Secret(secret)}),
		ReplayTTL: time.Hour,
	}})
	if err != nil {
		t.Fatal(err)
	}
	store := replay.NewMemory(replay.MemoryConfig{Capacity: 100})
	a := authz.NewAuthorizer(authz.Config{Nonces: store})
	a.SetPolicy(p)
	var logs bytes.Buffer
	f := &fixture{check: extauthz.NewServer(a, extauthz.Config{}), logs: &logs}
	f.srv = NewServer(store, zerolog.New(&logs), prometheus.NewRegistry())

	gs := grpc.NewServer()
	f.srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f.als = alsv3.NewAccessLogServiceClient(conn)
	return f
}

// deliver asks ext_authz about a signed GitHub delivery of body.
func (f *fixture) deliver(t *testing.T, body string) *authv3.CheckResponse {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "192.0.2.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 4000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: "/webhooks/github", Host: "hooks.example.com", Scheme: "https",
			Headers: map[string]string{
				"x-hub-signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
				"x-github-delivery":   "d-1",
				"content-type":        "application/json",
				"content-length":      strconv.Itoa(len(body)),
			},
			RawBody: []byte(body),
		}},
	}}
	resp, err := f.check.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func reason(resp *authv3.CheckResponse) string {
	return resp.GetDynamicMetadata().GetFields()["reason"].GetStringValue()
}

// entry is the access log entry Envoy writes for a request that ended with
// status, carrying the check's dynamic metadata.
func entry(resp *authv3.CheckResponse, status uint32) *accesslogv3.HTTPAccessLogEntry {
	e := &accesslogv3.HTTPAccessLogEntry{
		CommonProperties: &accesslogv3.AccessLogCommon{Metadata: &corev3.Metadata{
			FilterMetadata: map[string]*structpb.Struct{extauthz.MetadataNamespace: resp.GetDynamicMetadata()},
		}},
		Request:  &accesslogv3.HTTPRequestProperties{RequestId: "rid-1"},
		Response: &accesslogv3.HTTPResponseProperties{},
	}
	if status != 0 {
		e.Response.ResponseCode = wrapperspb.UInt32(status)
	}
	return e
}

// send streams entries to the service and returns once it handled them.
func (f *fixture) send(t *testing.T, entries ...*accesslogv3.HTTPAccessLogEntry) {
	t.Helper()
	stream, err := f.als.StreamAccessLogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	msg := &alsv3.StreamAccessLogsMessage{
		Identifier: &alsv3.StreamAccessLogsMessage_Identifier{Node: &corev3.Node{Id: "envoy"}, LogName: "hookguard"},
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}},
	}
	if err := stream.Send(msg); err != nil {
		t.Fatal(err)
	}
	// The handler has returned, every entry handled, when the stream's
	// status arrives.
	stream.CloseAndRecv()
}

func (f *fixture) count(result string) float64 {
	return testutil.ToFloat64(f.srv.entries.WithLabelValues(result))
}

// The provider's story: the upstream answers 503 to the first attempt, the
// retry (same body, same signature) is accepted and answered 200, and a
// third copy is a replay.
func TestRetryableStatusForgetsTheDelivery(t *testing.T) {
	f := newFixture(t)
	first := f.deliver(t, `{"n":1}`)
	if reason(first) != "ok" {
		t.Fatalf("first attempt: %s", reason(first))
	}
	if r := reason(f.deliver(t, `{"n":1}`)); r != "replayed" {
		t.Fatalf("before the access log entry: %s", r)
	}
	f.send(t, entry(first, 503))
	retry := f.deliver(t, `{"n":1}`)
	if reason(retry) != "ok" {
		t.Fatalf("retry after a 503: %s", reason(retry))
	}
	// The 200 of the retry keeps it, and a late duplicate report of the
	// first attempt's 503 cannot forget the retry's claim.
	f.send(t, entry(retry, 200), entry(first, 503))
	if r := reason(f.deliver(t, `{"n":1}`)); r != "replayed" {
		t.Fatalf("third copy after the 200: %s", r)
	}
	if f.count(resultForgotten) != 2 || f.count(resultKept) != 1 {
		t.Fatalf("forgotten %v kept %v, want 2 and 1", f.count(resultForgotten), f.count(resultKept))
	}
	// The log names the endpoint and the request, never the token.
	claim := first.GetDynamicMetadata().GetFields()[extauthz.MetadataReplayClaim].GetStringValue()
	if token := strings.Split(claim, ":")[1]; len(token) != 32 || strings.Contains(f.logs.String(), token) {
		t.Fatalf("token %q in the log:\n%s", token, f.logs.String())
	}
}

func TestStatusesProvidersRetry(t *testing.T) {
	for status, want := range map[uint32]bool{0: true, 429: true, 500: true, 502: true, 503: true, 504: true,
		200: false, 201: false, 204: false, 301: false, 400: false, 401: false, 404: false, 409: false, 413: false, 600: false} {
		if Retryable(status) != want {
			t.Errorf("Retryable(%d) = %v", status, !want)
		}
		f := newFixture(t)
		body := `{"status":` + strconv.Itoa(int(status)) + `}`
		first := f.deliver(t, body)
		f.send(t, entry(first, status))
		got := reason(f.deliver(t, body))
		if want && got != "ok" || !want && got != "replayed" {
			t.Errorf("status %d: retry %s", status, got)
		}
	}
}

// Entries without a claim (denials) change nothing, and a malformed claim
// is counted and skipped.
func TestEntriesWithoutAUsableClaim(t *testing.T) {
	f := newFixture(t)
	first := f.deliver(t, `{"n":2}`)
	denied := f.deliver(t, `{"n":2}`)
	if reason(denied) != "replayed" {
		t.Fatal(reason(denied))
	}
	if _, ok := denied.GetDynamicMetadata().GetFields()[extauthz.MetadataReplayClaim]; ok {
		t.Fatal("a denial carries a claim")
	}
	bad := entry(first, 503)
	md := bad.CommonProperties.Metadata.FilterMetadata[extauthz.MetadataNamespace]
	md.Fields[extauthz.MetadataReplayClaim] = structpb.NewStringValue("github:zz:yy")
	f.send(t, entry(denied, 409), entry(denied, 503), bad)
	if r := reason(f.deliver(t, `{"n":2}`)); r != "replayed" {
		t.Fatalf("after entries without a usable claim: %s", r)
	}
	if f.count(resultNoClaim) != 2 || f.count(resultMalformed) != 1 || f.count(resultForgotten) != 0 {
		t.Fatalf("no_claim %v malformed %v forgotten %v", f.count(resultNoClaim), f.count(resultMalformed), f.count(resultForgotten))
	}
}
