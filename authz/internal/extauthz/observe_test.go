package extauthz

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookguard/hookguard/authz"
)

func TestAllowLogSkip(t *testing.T) {
	for _, tc := range []struct {
		skip     float64
		wantLogs int
	}{{0, 100}, {0.75, 25}, {0.9, 10}, {1, 0}, {-1, 100}, {2, 0}} {
		base := newTestServer(t)
		var logs bytes.Buffer
		s := NewServer(base.authorizer, Config{Log: zerolog.New(&logs), AllowLogSkip: tc.skip})
		allowed := checkRequest("/x", map[string]string{"x-gitlab-token": "tok"}, nil, map[string]string{"hookguard.endpoint": "gitlab"})
		denied := checkRequest("/x", map[string]string{"x-gitlab-token": "nope"}, nil, map[string]string{"hookguard.endpoint": "gitlab"})
		for range 100 {
			s.Check(context.Background(), allowed)
			s.Check(context.Background(), denied)
		}
		allows := strings.Count(logs.String(), `"decision":"allow"`)
		denials := strings.Count(logs.String(), `"decision":"deny"`)
		if allows != tc.wantLogs || denials != 100 {
			t.Errorf("skip %v: %d allowed and %d denied decisions logged, want %d and 100", tc.skip, allows, denials, tc.wantLogs)
		}
	}
}

func TestSpanPerCheck(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	body := []byte(`{"a":1}`)
	tests := []struct {
		name      string
		headers   map[string]string
		wantTrace string // "" for a new root trace
		decision  string
		reason    string
		status    codes.Code
	}{
		{"W3C traceparent", map[string]string{"traceparent": "00-" + traceID + "-" + spanID + "-01", "x-hub-signature-256": sign(string(body))}, traceID, "allow", "ok", codes.Unset},
		{"B3 multi-header", map[string]string{"x-b3-traceid": traceID, "x-b3-spanid": spanID, "x-b3-sampled": "1", "x-hub-signature-256": sign("other")}, traceID, "deny", "signature_invalid", codes.Unset},
		{"B3 single header", map[string]string{"b3": traceID + "-" + spanID + "-1"}, traceID, "deny", "signature_missing", codes.Unset},
		{"no trace context", nil, "", "deny", "no_endpoint", codes.Unset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			base := newTestServer(t)
			s := NewServer(base.authorizer, Config{Tracer: tp.Tracer("test")})
			path := "/webhooks/github"
			if tt.reason == "no_endpoint" {
				path = "/nope"
			}
			s.Check(context.Background(), checkRequest(path, tt.headers, body, nil))
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			sp := spans[0]
			if sp.SpanKind() != trace.SpanKindServer {
				t.Errorf("kind %v", sp.SpanKind())
			}
			if tt.wantTrace != "" {
				if got := sp.SpanContext().TraceID().String(); got != tt.wantTrace {
					t.Errorf("trace %s, want the request's %s", got, tt.wantTrace)
				}
				if got := sp.Parent().SpanID().String(); got != spanID || !sp.Parent().IsRemote() {
					t.Errorf("parent %s (remote %v), want the request's %s", got, sp.Parent().IsRemote(), spanID)
				}
			} else if sp.Parent().IsValid() {
				t.Errorf("a request without trace context got parent %v", sp.Parent())
			}
			attrs := map[attribute.Key]string{}
			for _, kv := range sp.Attributes() {
				attrs[kv.Key] = kv.Value.Emit()
			}
			want := map[attribute.Key]string{"hookguard.decision": tt.decision, "hookguard.reason": tt.reason, "hookguard.mode": "enforce"}
			if tt.reason != "no_endpoint" {
				want["hookguard.endpoint"] = "github"
			}
			for k, v := range want {
				if attrs[k] != v {
					t.Errorf("attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
				}
			}
			if sp.Status().Code != tt.status {
				t.Errorf("status %v", sp.Status())
			}
		})
	}
}

func TestUnavailableSpanIsAnError(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := NewServer(authz.NewAuthorizer(authz.Config{}), Config{Tracer: tp.Tracer("test")}) // no policy
	s.Check(context.Background(), checkRequest("/x", nil, nil, nil))
	if spans := rec.Ended(); len(spans) != 1 || spans[0].Status().Code != codes.Error {
		t.Fatalf("spans %v", spans)
	}
}
