// Package extauthz adapts hookguard's decision core to Envoy's external
// authorization API (envoy.service.auth.v3.Authorization). It converts a
// CheckRequest into an authz.Request, asks the authz.Authorizer, converts the
// Decision back, and writes one decision log line and the metrics. It holds
// no policy logic of its own.
package extauthz

import (
	"context"
	"fmt"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"

	"github.com/hookguard/hookguard/authz"
)

// Server implements authv3.AuthorizationServer.
type Server struct {
	authv3.UnimplementedAuthorizationServer

	authorizer *authz.Authorizer
	log        zerolog.Logger
	metrics    *Metrics
}

// NewServer returns a Server deciding with a, logging decisions to log and
// recording them in m (nil for none).
func NewServer(a *authz.Authorizer, log zerolog.Logger, m *Metrics) *Server {
	return &Server{authorizer: a, log: log, metrics: m}
}

// Check answers one ext_authz check. It always returns a CheckResponse and
// never an error: Envoy turns an RPC error into status_on_error, which a
// misconfigured Envoy may set to allow (failure_mode_allow). Anything that
// goes wrong, a panic included, is a denial with authz.Unavailable.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (resp *authv3.CheckResponse, _ error) {
	start := time.Now()
	r := requestFromCheck(req)
	var d authz.Decision
	defer func() {
		if p := recover(); p != nil {
			d = authz.Decision{Reason: authz.Unavailable, Status: authz.Unavailable.Status(),
				Detail: fmt.Sprintf("panic: %v", p), RetryAfterSeconds: authz.RetryAfterUnavailable}
			resp = responseFromDecision(&d, r.ID)
		}
		elapsed := time.Since(start)
		s.logDecision(r, &d, elapsed)
		s.metrics.observe(&d, elapsed)
	}()
	d = s.authorizer.Check(ctx, r)
	return responseFromDecision(&d, r.ID), nil
}

// logDecision writes the one log line of a decision. It carries no secret,
// signature or body bytes: only names, reasons and ids.
func (s *Server) logDecision(r *authz.Request, d *authz.Decision, elapsed time.Duration) {
	level := zerolog.InfoLevel
	if d.Reason == authz.Unavailable {
		level = zerolog.ErrorLevel
	} else if d.Denied() {
		level = zerolog.WarnLevel
	}
	ev := s.log.WithLevel(level)
	if ev == nil {
		return
	}
	decision, mode := labels(d)
	ev = ev.Str("request_id", r.ID).
		Str("endpoint", d.Endpoint).
		Str("decision", decision).
		Str("reason", string(d.Reason)).
		Int("status", d.Status).
		Str("mode", mode).
		Str("source", sourceString(r)).
		Str("scheme", d.Scheme).
		Str("method", r.Method).
		Str("path", r.Path).
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

func sourceString(r *authz.Request) string {
	if !r.Source.IsValid() {
		return ""
	}
	return r.Source.Addr().String()
}

// labels names a decision ("allow", "deny" or "handshake") and its mode
// ("enforce" or "dry_run") for the log and the metrics. A DRY_RUN request
// that failed is "deny": the decision that would have been taken.
func labels(d *authz.Decision) (decision, mode string) {
	decision, mode = "allow", "enforce"
	switch {
	case d.Reason == authz.Handshake:
		decision = "handshake"
	case d.Denied():
		decision = "deny"
	}
	if d.DryRun {
		mode = "dry_run"
	}
	return decision, mode
}
