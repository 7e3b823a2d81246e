package daemon

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

const rateLimitedYAML = `
endpoints:
  - name: github
    match: {path_prefix: /webhooks/github}
    verify:
      github:
        secrets: [{env: HOOKGUARD_SERVER_TEST_SECRET}]
  - name: partner
    match: {path_prefix: /webhooks/partner}
    verify:
      github:
        secrets: [{env: HOOKGUARD_SERVER_TEST_SECRET}]
    rate_limit: {rate: 60/m, burst: 20, per: [source]}
`

func startObserved(t *testing.T, cfg Config) *running {
	t.Helper()
	t.Setenv("HOOKGUARD_SERVER_TEST_SECRET", "s3cret")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(rateLimitedYAML), 0o600)
	cfg.PolicyDir = dir
	return startWith(t, cfg)
}

// checkWith sends a signed delivery to path with extra headers.
func checkWith(t *testing.T, conn *grpc.ClientConn, path string, body []byte, headers map[string]string) *authv3.CheckResponse {
	t.Helper()
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(body)
	h := map[string]string{"x-hub-signature-256": "sha256=" + hex.EncodeToString(m.Sum(nil))}
	for k, v := range headers {
		h[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: socketAddress("198.51.100.7", 4711)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: path, Host: "h", Headers: h, RawBody: body,
		}},
	}})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return resp
}

func adminGet(t *testing.T, r *running, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.adminAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestObservabilityMetrics(t *testing.T) {
	logs := &syncBuffer{}
	r := startObserved(t, Config{Log: zerolog.New(logs), LogOutput: logs})
	if resp := checkWith(t, r.conn, "/webhooks/partner", []byte(`{"n":1}`), nil); resp.GetOkResponse() == nil {
		t.Fatalf("denied: %v", resp)
	}
	checkWith(t, r.conn, "/nope", nil, nil)
	_, m := adminGet(t, r, "/metrics")
	for _, want := range []string{
		`grpc_server_started_total{grpc_method="Check",grpc_service="envoy.service.auth.v3.Authorization",grpc_type="unary"} 2`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="envoy.service.auth.v3.Authorization",grpc_type="unary"} 2`,
		`grpc_server_handling_seconds_count{grpc_method="Check",grpc_service="envoy.service.auth.v3.Authorization",grpc_type="unary"} 2`,
		`grpc_server_started_total{grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 0`,
		`hookguard_decisions_total{decision="allow",endpoint="partner",mode="enforce",reason="ok"} 1`,
		`hookguard_decisions_total{decision="deny",endpoint="",mode="enforce",reason="no_endpoint"} 1`,
		`hookguard_check_duration_seconds_bucket{le="5e-06"}`,
		`hookguard_state_errors_total{backend="memory",store="replay"} 0`,
		`hookguard_state_errors_total{backend="memory",store="ratelimit"} 0`,
		`hookguard_ratelimit_keys{endpoint="partner"} 1`,
		`hookguard_decision_log_dropped_total 0`,
		`hookguard_build_info{`,
		`hookguard_replay_cache_entries 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s\n%s", want, grepLines(m, "hookguard_|grpc_server"))
		}
	}
	if strings.Contains(m, `hookguard_ratelimit_keys{endpoint="github"}`) {
		t.Error("rate-limit keys reported for an endpoint without a per-source limit")
	}
	// The decision lines reach LogOutput through the buffer.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(logs.String(), `"decision":`) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), `"decision":`); n != 2 {
		t.Errorf("%d decision lines logged, want 2:\n%s", n, logs.String())
	}
	r.stop(t)
}

func TestAllowedDecisionsSampled(t *testing.T) {
	logs := &syncBuffer{}
	r := startObserved(t, Config{Log: zerolog.New(logs), LogOutput: logs, AllowLogSkip: 1})
	checkWith(t, r.conn, "/webhooks/github", []byte(`{"n":1}`), nil)
	checkWith(t, r.conn, "/nope", nil, nil)
	r.stop(t) // flushes the log
	if s := logs.String(); strings.Contains(s, `"decision":"allow"`) || !strings.Contains(s, `"decision":"deny"`) {
		t.Errorf("with every allowed decision skipped, the log holds:\n%s", s)
	}
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		r := startObserved(t, Config{Log: zerolog.Nop(), Pprof: on})
		code, _ := adminGet(t, r, "/debug/pprof/")
		heap, _ := adminGet(t, r, "/debug/pprof/heap?debug=1")
		if want := map[bool]int{false: 404, true: 200}[on]; code != want || heap != want {
			t.Errorf("pprof %v: /debug/pprof/ answered %d, heap %d; want %d", on, code, heap, want)
		}
		r.stop(t)
	}
}

// collector is an in-process OTLP/gRPC trace receiver.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.ResourceSpans
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, req.GetResourceSpans()...)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestSpansExportedOverOTLP(t *testing.T) {
	col := &collector{}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, col)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	defer gs.Stop()

	r := startObserved(t, Config{Log: zerolog.Nop(), OTLPEndpoint: "http://" + lis.Addr().String(), Version: "v9.9.9"})
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	checkWith(t, r.conn, "/webhooks/github", []byte(`{"n":2}`), map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01"})
	r.stop(t) // flushes the spans

	col.mu.Lock()
	defer col.mu.Unlock()
	var found bool
	for _, rs := range col.spans {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				found = true
				if hex.EncodeToString(sp.GetTraceId()) != traceID || hex.EncodeToString(sp.GetParentSpanId()) != parentID {
					t.Errorf("span trace %x parent %x, want the request's %s %s", sp.GetTraceId(), sp.GetParentSpanId(), traceID, parentID)
				}
				attrs := map[string]string{}
				for _, kv := range sp.GetAttributes() {
					attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
				}
				if attrs["hookguard.endpoint"] != "github" || attrs["hookguard.decision"] != "allow" || attrs["hookguard.reason"] != "ok" {
					t.Errorf("span attributes %v", attrs)
				}
				if res["service.name"] != "hookguard" || res["service.version"] != "v9.9.9" {
					t.Errorf("resource %v", res)
				}
			}
		}
	}
	if !found {
		t.Fatal("the collector received no span")
	}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}
