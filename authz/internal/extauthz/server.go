// Package extauthz adapts hookguard's decision core to Envoy's external
// authorization API (envoy.service.auth.v3.Authorization). It converts a
// CheckRequest into an authz.Request, asks the authz.Authorizer, converts the
// decision's authz.Answer into a CheckResponse, and writes one decision log
// line and the metrics. It holds no policy logic of its own.
package extauthz

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookguard/hookguard/authz"
)

// Server implements authv3.AuthorizationServer.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	authorizer *authz.Authorizer
	log        zerolog.Logger
	metrics    *Metrics
	// allowKeep is the share of allowed decisions logged, in millionths;
	// allowSeen counts them, to log an even share.
	allowKeep uint64
	allowSeen atomic.Uint64
	tracer    trace.Tracer
}

// propagator reads the trace context Envoy forwards in the request
// headers: B3 (Envoy's Zipkin tracer) and W3C traceparent, which wins when
// both are present.
var propagator = propagation.NewCompositeTextMapPropagator(b3.New(), propagation.TraceContext{})

// Config holds a Server's optional parts. The zero value is valid: every
// zero field means "none".
type Config struct {
	// Log receives one line per decision; the zero Logger writes nothing.
	Log zerolog.Logger
	// Metrics records every decision; nil records none.
	Metrics *Metrics
	// AllowLogSkip is the share of allowed decisions left out of the log,
	// from 0 (every one is logged) to 1 (none is), evenly spread. Denials
	// and handshakes are always logged, and the metrics count every
	// decision.
	AllowLogSkip float64
	// Tracer, if set, records a span per check, a child of the trace
	// context the request's headers carry (W3C traceparent or B3).
	Tracer trace.Tracer
}

// NewServer returns a Server deciding with a, configured by c.
func NewServer(a *authz.Authorizer, c Config) *Server {
	return &Server{authorizer: a, log: c.Log, metrics: c.Metrics,
		allowKeep: uint64(math.Round((1 - min(max(c.AllowLogSkip, 0), 1)) * million)), tracer: c.Tracer}
}

// Check answers one ext_authz check. It always returns a CheckResponse and
// never an error: Envoy turns an RPC error into status_on_error, which a
// misconfigured Envoy may set to allow (failure_mode_allow). Anything that
// goes wrong, a panic included, is a denial with authz.Unavailable.
//
// Check serves a server registered with authv3.RegisterAuthorizationServer;
// Register serves the same decisions on the faster wire path.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	d, a := s.decide(ctx, requestFromCheck(req))
	return responseFromAnswer(&d, &a), nil
}

// decide asks the authorizer about r and returns the decision and its
// answer, having logged and counted it. A panic is a denial with
// authz.Unavailable.
func (s *Server) decide(ctx context.Context, r *authz.Request) (d authz.Decision, a authz.Answer) {
	start := time.Now()
	var span trace.Span
	if s.tracer != nil {
		ctx, span = s.tracer.Start(propagator.Extract(ctx, propagation.MapCarrier(r.Header)),
			"envoy.service.auth.v3.Authorization/Check", trace.WithSpanKind(trace.SpanKindServer))
	}
	defer func() {
		if p := recover(); p != nil {
			d = authz.Decision{Reason: authz.Unavailable, RequestID: r.ID,
				Detail: fmt.Sprintf("panic: %v", p), RetryAfterSeconds: authz.RetryAfterUnavailable}
			a = d.Answer()
		}
		elapsed := time.Since(start)
		if d.Outcome() != authz.OutcomeAllow || s.logAllowed() {
			s.logDecision(r, &d, a.Status, elapsed)
		}
		s.metrics.observe(&d, elapsed)
		if span != nil {
			endSpan(span, &d, a.Status)
		}
	}()
	d = s.authorizer.Check(ctx, r)
	a = d.Answer()
	return d, a
}

// logAllowed reports whether to log this allowed decision: the share
// allowKeep of them, spread evenly.
func (s *Server) logAllowed() bool {
	switch s.allowKeep {
	case million:
		return true
	case 0:
		return false
	}
	n := s.allowSeen.Add(1)
	return n*s.allowKeep/million != (n-1)*s.allowKeep/million
}

const million = 1_000_000

// endSpan records the decision on the check's span and ends it. A denial
// is the check working, not an error; unavailable is one.
func endSpan(span trace.Span, d *authz.Decision, status int) {
	span.SetAttributes(
		attribute.String("hookguard.endpoint", d.Endpoint),
		attribute.String("hookguard.decision", string(d.Outcome())),
		attribute.String("hookguard.reason", string(d.Reason)),
		attribute.String("hookguard.mode", mode(d)),
		attribute.Int("http.response.status_code", status),
	)
	if d.Reason == authz.Unavailable {
		span.SetStatus(codes.Error, string(d.Reason))
	}
	span.End()
}

// logDecision writes the one log line of a decision, at the level
// logLevel gives. It carries no secret, signature or body bytes: only
// names, reasons and ids. status is the HTTP status of the answer.
func (s *Server) logDecision(r *authz.Request, d *authz.Decision, status int, elapsed time.Duration) {
	ev := s.log.WithLevel(logLevel(d))
	if ev == nil {
		return
	}
	ev = ev.Str("request_id", logged(r.ID, maxLoggedID)).
		Str("endpoint", d.Endpoint).
		Str("decision", string(d.Outcome())).
		Str("reason", string(d.Reason)).
		Int("status", status).
		Str("mode", mode(d)).
		Str("source", sourceString(r)).
		Str("scheme", d.Scheme).
		Str("method", logged(r.Method, maxLoggedID)).
		Str("path", logged(r.Path, maxLoggedPath)).
		Int64("latency_us", elapsed.Microseconds())
	if d.DeliveryID != "" {
		ev = ev.Str("delivery_id", d.DeliveryID)
	}
	if d.Detail != "" {
		ev = ev.Str("detail", d.Detail)
	}
	if d.Revision != "" {
		ev = ev.Str("policy_revision", d.Revision)
	}
	ev.Msg("decision")
}

// Bounds on the strings of a decision's log line that the sender chooses:
// the path, the method and (unless Envoy replaces it) the request id. Real
// ones are far shorter; without a bound any request, even one refused at
// once, could write megabytes to the log.
const (
	maxLoggedPath = 256
	maxLoggedID   = 128
)

// logged cuts s to max bytes, marking the cut with "...".
func logged(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// logLevel is the level of a decision's log line. This is the one place
// that sets it, for every reason:
//
//   - info: ok and handshake; and the denials of requests that reached no
//     endpoint's rules, which scanners and crawlers cause all day and which
//     say nothing about a real sender: no_endpoint (an unknown path, or a
//     route naming an endpoint the policy lacks) and method_not_allowed
//     (e.g. a GET on a webhook path).
//   - warn: every other denial, in ENFORCE and DRY_RUN mode alike. A
//     non-canonical path or host, a signature, timestamp, replay, source,
//     client identity, rate, body or payload failure on a real endpoint is either someone trying it or a
//     real sender's deliveries being lost; in DRY_RUN mode, showing those is
//     the point.
//   - error: unavailable, body_not_forwarded (the gateway does not send
//     bodies: every delivery with one is lost until it is fixed), or a
//     reason this switch does not know: an operator must look.
//
// Metrics count every decision whatever its level.
func logLevel(d *authz.Decision) zerolog.Level {
	switch d.Reason {
	case authz.OK, authz.Handshake, authz.NoEndpoint, authz.MethodNotAllowed:
		return zerolog.InfoLevel
	case authz.SourceNotAllowed, authz.ClientCertificateRequired, authz.ClientIdentityDenied,
		authz.RateLimited, authz.SignatureMissing, authz.SignatureInvalid, authz.TimestampOutOfWindow,
		authz.Replayed, authz.BodyTruncated, authz.BodyTooLarge, authz.UnsupportedMediaType,
		authz.MalformedPayload, authz.SchemaViolation, authz.NonCanonicalRequest:
		return zerolog.WarnLevel
	default:
		return zerolog.ErrorLevel
	}
}

func sourceString(r *authz.Request) string {
	if !r.Source.IsValid() {
		return ""
	}
	return r.Source.Addr().String()
}

// mode names the endpoint's mode for the log and the metrics: "enforce" or
// "dry_run". With the outcome it says what happened: a DRY_RUN request
// that failed is decision "deny", mode "dry_run", and went upstream.
func mode(d *authz.Decision) string {
	if d.DryRun {
		return "dry_run"
	}
	return "enforce"
}
