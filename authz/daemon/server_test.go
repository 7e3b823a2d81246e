package daemon

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookguard/hookguard/authz/internal/reload"
	"github.com/hookguard/hookguard/authz/policy"
)

const policyYAML = `
endpoints:
  - name: github
    match: {path_prefix: /webhooks/github}
    verify:
      github:
        secrets: [{env: HOOKGUARD_SERVER_TEST_SECRET}]
`

type running struct {
	grpcAddr, adminAddr string
	cancel              context.CancelFunc
	done                chan error
	conn                *grpc.ClientConn
}

func start(t *testing.T, maxRecv int) *running {
	t.Helper()
	t.Setenv("HOOKGUARD_SERVER_TEST_SECRET", "s3cret")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "github.yaml"), []byte(policyYAML), 0o600)
	return startWith(t, Config{PolicyDir: dir, MaxRecvBytes: maxRecv, Log: zerolog.Nop()})
}

// startWith runs Run with cfg on loopback ports until the test ends, and
// connects a gRPC client.
func startWith(t *testing.T, cfg Config) *running {
	t.Helper()
	cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	cfg.Ready = func(g, a net.Addr) {
		r.grpcAddr, r.adminAddr = g.String(), a.String()
		close(ready)
	}
	go func() { r.done <- Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	conn, err := grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	r.conn = conn
	t.Cleanup(func() { cancel(); conn.Close() })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
}

func check(t *testing.T, conn *grpc.ClientConn, body []byte) *authv3.CheckResponse {
	t.Helper()
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: "/webhooks/github", Host: "h",
			Headers: map[string]string{"x-hub-signature-256": "sha256=" + hex.EncodeToString(m.Sum(nil))},
			RawBody: body,
		}},
	}})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return resp
}

func TestServeCheckHealthAndAdmin(t *testing.T) {
	r := start(t, 0)
	if resp := check(t, r.conn, []byte(`{"a":1}`)); resp.GetOkResponse() == nil {
		t.Fatalf("valid delivery denied: %v", resp)
	}
	if resp := check(t, r.conn, []byte(`{"a":1}`)); resp.GetDeniedResponse().GetStatus().GetCode() != 409 {
		t.Fatalf("replay not denied: %v", resp)
	}
	hc := healthpb.NewHealthClient(r.conn)
	for _, svc := range []string{"", AuthorizationService} {
		st, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", svc, st, err)
		}
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "hookguard_decisions_total"} {
		resp, err := http.Get("http://" + r.adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %q", path, resp.StatusCode, truncate(b))
		}
	}
	r.stop(t)
}

func TestHealthNotServingWhileShuttingDown(t *testing.T) {
	r := start(t, 0)
	hc := healthpb.NewHealthClient(r.conn)
	ctx, cancelWatch := context.WithCancel(context.Background())
	stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: AuthorizationService})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := stream.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first status %v %v", st, err)
	}
	r.cancel()
	st, err := stream.Recv()
	if err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("status on shutdown: %v %v, want NOT_SERVING", st, err)
	}
	// A graceful stop waits for open streams such as this one.
	cancelWatch()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
}

func TestMaxRecvBytes(t *testing.T) {
	r := start(t, 64<<10)
	if resp := check(t, r.conn, make([]byte, 32<<10)); resp.GetOkResponse() == nil {
		t.Fatalf("32 KiB body under a 64 KiB limit denied: %v", resp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := authv3.NewAuthorizationClient(r.conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{RawBody: make([]byte, 128<<10)}}}})
	if err == nil {
		t.Fatal("a message over --max-body-bytes was accepted")
	}
}

// TestRunRefusesInvalidPolicy checks the start-up contract: an invalid set
// is an error before anything listens, logged with the same structured
// diagnostics as a refused reload, and returned on one line.
func TestRunRefusesInvalidPolicy(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("endpoints:\n"+
		"- name: a\n  verify: {github: {secrets: [{env: HOOKGUARD_UNSET_SECRET}]}}\n"+
		"- name: b\n  match: {path: /b}\n  verify: {github: {secrets: [{env: HOOKGUARD_UNSET_SECRET_B}]}}\n"), 0o600)
	logs := &syncBuffer{}
	err := Run(context.Background(), Config{PolicyDir: dir, GRPCAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Log: zerolog.New(logs)})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "HOOKGUARD_UNSET_SECRET") {
		t.Fatalf("Run with an invalid policy: %v", err)
	}
	if strings.Contains(err.Error(), "\n") || !strings.HasSuffix(err.Error(), "(and 1 more)") {
		t.Errorf("the error is not one line ending in the count of the others: %q", err)
	}
	var f *reload.Failure
	if !errors.As(err, &f) || f.Trigger != reload.TriggerStart || len(f.Errors) != 2 {
		t.Fatalf("the error is no *reload.Failure with both diagnostics: %#v", err)
	}
	var errs policy.Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Errorf("the error does not unwrap to the policy.Errors: %#v", err)
	}
	var refused []map[string]any
	for _, l := range logs.lines() {
		if strings.HasPrefix(fmt.Sprint(l["message"]), "policy refused") {
			refused = append(refused, l)
		}
	}
	if len(refused) != 1 {
		t.Fatalf("want one refusal line, got %v", refused)
	}
	l := refused[0]
	if l["level"] != "error" || l["trigger"] != "start" || l["error_count"] != 2.0 || l["message"] != "policy refused; not serving" {
		t.Errorf("refusal line %v", l)
	}
	logged, _ := l["errors"].([]any)
	if len(logged) != 2 {
		t.Fatalf("errors %v, want 2 structured diagnostics", l["errors"])
	}
	second, _ := logged[1].(map[string]any)
	if second["endpoint"] != "b" || !strings.HasSuffix(fmt.Sprint(second["file"]), "bad.yaml") || second["field"] == nil || second["message"] == nil {
		t.Errorf("diagnostic %v lacks file, endpoint, field or message", second)
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
