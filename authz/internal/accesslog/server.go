// Package accesslog serves Envoy's gRPC Access Log Service
// (envoy.service.accesslog.v3) for retry-aware replay protection.
//
// hookguard remembers a delivery's nonce when it allows it, before the
// upstream has answered. When the upstream then fails, the provider retries
// the same signed delivery, and without more it would be refused as a
// replay: the webhook is lost. Envoy's access log says how each request
// ended. For an allowed delivery, hookguard put its nonce claim in the
// ext_authz dynamic metadata (extauthz.MetadataReplayClaim); when Envoy
// reports that the request ended with a status the provider retries (5xx,
// 429, or no response at all), the claim is forgotten, so the retry is
// accepted. A 2xx, or any other status, keeps it.
//
// A claim is forgotten only while it still holds its keys under its own
// random token (authz.NonceStore.Forget): a late report cannot remove the
// retry's claim, and a caller that did not see the metadata cannot forget
// anything. The service is registered on the ext_authz gRPC listener, so it
// has the same link security (mTLS and client identities, or a unix socket)
// as Check.
package accesslog

import (
	"context"
	"errors"
	"io"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/extauthz"
)

// forgetTimeout bounds one forget; the stream goes on with the next entry
// either way.
const forgetTimeout = time.Second

// The results of an access log entry, the values of the metric's label.
const (
	// resultForgotten: a retryable status; the claim was forgotten.
	resultForgotten = "forgotten"
	// resultKept: the upstream took the delivery (2xx, or any status a
	// provider does not retry); the claim stays.
	resultKept = "kept"
	// resultNoClaim: the request carried no claim (a denial, or an endpoint
	// without replay protection); nothing to do.
	resultNoClaim = "no_claim"
	// resultMalformed: a claim that does not parse.
	resultMalformed = "malformed"
	// resultFailed: forgetting failed (the store was unavailable); the
	// provider's retry will be refused as a replay until the TTL ends.
	resultFailed = "failed"
)

// Server implements alsv3.AccessLogServiceServer.
type Server struct {
	alsv3.UnimplementedAccessLogServiceServer
	nonces  authz.NonceStore
	log     zerolog.Logger
	entries *prometheus.CounterVec
}

// NewServer returns a Server that forgets claims in nonces, logs to log, and
// registers its metric with reg: hookguard_access_log_entries_total{result}.
func NewServer(nonces authz.NonceStore, log zerolog.Logger, reg prometheus.Registerer) *Server {
	s := &Server{
		nonces: nonces,
		log:    log,
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_access_log_entries_total",
			Help: "Envoy access log entries received, by result: forgotten (a retryable status; the delivery's nonce was forgotten so the provider's retry is accepted), kept, no_claim, malformed, failed.",
		}, []string{"result"}),
	}
	for _, r := range []string{resultForgotten, resultKept, resultNoClaim, resultMalformed, resultFailed} {
		s.entries.WithLabelValues(r)
	}
	reg.MustRegister(s.entries)
	return s
}

// Register adds the service to gs.
func (s *Server) Register(gs *grpc.Server) { alsv3.RegisterAccessLogServiceServer(gs, s) }

// StreamAccessLogs reads Envoy's stream until it ends. Envoy expects no
// answer; an entry that cannot be handled is counted and skipped.
func (s *Server) StreamAccessLogs(stream grpc.ClientStreamingServer[alsv3.StreamAccessLogsMessage, alsv3.StreamAccessLogsResponse]) error {
	ctx := stream.Context()
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			s.entries.WithLabelValues(s.handle(ctx, e)).Inc()
		}
	}
}

// handle forgets e's claim when e ended with a status the provider retries.
func (s *Server) handle(ctx context.Context, e *accesslogv3.HTTPAccessLogEntry) string {
	md := e.GetCommonProperties().GetMetadata().GetFilterMetadata()[extauthz.MetadataNamespace]
	text := md.GetFields()[extauthz.MetadataReplayClaim].GetStringValue()
	if text == "" {
		return resultNoClaim
	}
	status := e.GetResponse().GetResponseCode().GetValue()
	if !Retryable(status) {
		return resultKept
	}
	var c authz.Nonces
	if err := c.UnmarshalText([]byte(text)); err != nil {
		s.log.Warn().Err(err).Msg("access log: malformed replay claim")
		return resultMalformed
	}
	fctx, cancel := context.WithTimeout(ctx, forgetTimeout)
	err := s.nonces.Forget(fctx, c)
	cancel()
	if err != nil {
		s.log.Error().Err(err).Str("endpoint", c.Endpoint).Uint32("status", status).
			Str("request_id", e.GetRequest().GetRequestId()).
			Msg("delivery ended with a status the provider retries, but forgetting its nonce failed: the retry will be refused as replayed")
		return resultFailed
	}
	s.log.Info().Str("endpoint", c.Endpoint).Uint32("status", status).
		Str("request_id", e.GetRequest().GetRequestId()).
		Msg("delivery ended with a status the provider retries; its nonce is forgotten so the retry is accepted")
	return resultForgotten
}

// Retryable reports whether webhook providers retry a delivery that ended
// with status: a 5xx, 429, or 0 (no response reached the sender: the
// upstream or the sender's connection failed first).
func Retryable(status uint32) bool {
	return status == 0 || status == 429 || status >= 500 && status <= 599
}
