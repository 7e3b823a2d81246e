// Package server runs hookguard: it loads the policy, serves the ext_authz
// and health gRPC services, and serves the admin HTTP endpoints (probes and
// metrics) until its context is cancelled, then stops gracefully.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/extauthz"
	"github.com/hookguard/hookguard/authz/policy"
	"github.com/hookguard/hookguard/authz/ratelimit"
	"github.com/hookguard/hookguard/authz/replay"
)

// AuthorizationService is the gRPC service name Envoy's health check asks
// about.
const AuthorizationService = "envoy.service.auth.v3.Authorization"

// DefaultMaxRecvBytes is the default gRPC receive limit: room for the 1 MiB
// body Envoy buffers by default, plus headers and framing, with margin.
const DefaultMaxRecvBytes = 4 << 20

// Config is what Run needs.
type Config struct {
	// PolicyDir is the policy directory.
	PolicyDir string
	// GRPCAddr is the ext_authz gRPC listen address, e.g. ":9191".
	GRPCAddr string
	// AdminAddr is the admin HTTP listen address (/healthz, /readyz,
	// /metrics), e.g. ":9192".
	AdminAddr string
	// MaxRecvBytes caps a gRPC message, and so the body Envoy may send.
	MaxRecvBytes int
	// NonceCapacity bounds the in-memory replay cache.
	NonceCapacity int
	// ShutdownGrace is how long in-flight checks get to finish on stop.
	ShutdownGrace time.Duration
	// Log receives operational messages and one line per decision.
	Log zerolog.Logger
	// Ready, if set, receives the bound addresses once serving.
	Ready func(grpcAddr, adminAddr net.Addr)
}

// Run loads the policy and serves until ctx is cancelled. An invalid policy
// set is an error before anything is served.
func Run(ctx context.Context, cfg Config) error {
	if cfg.MaxRecvBytes <= 0 {
		cfg.MaxRecvBytes = DefaultMaxRecvBytes
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	log := cfg.Log

	res, err := policy.Load(cfg.PolicyDir, policy.Options{})
	if err != nil {
		return fmt.Errorf("policy %s:\n%w", cfg.PolicyDir, err)
	}
	for _, w := range res.Warnings {
		log.Warn().Str("warning", w.Error()).Msg("policy warning")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	nonces := replay.NewMemory(cfg.NonceCapacity, nil)
	registerReplayMetrics(reg, nonces)
	policyInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hookguard_policy_info",
		Help: "The loaded policy set: 1 for its revision.",
	}, []string{"revision"})
	reg.MustRegister(policyInfo)

	a := authz.NewAuthorizer(nonces, nil, authz.WithLimiter(ratelimit.NewMemory()))
	a.SetPolicy(res.Policy)
	policyInfo.WithLabelValues(res.Revision).Set(1)
	log.Info().Str("policy_revision", res.Revision).Int("endpoints", len(res.Policy.Endpoints())).
		Int("files", len(res.Files)).Msg("policy loaded")

	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	adminLis, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		grpcLis.Close()
		return err
	}

	gs := grpc.NewServer(grpc.MaxRecvMsgSize(cfg.MaxRecvBytes))
	authv3.RegisterAuthorizationServer(gs, extauthz.NewServer(a, log, extauthz.NewMetrics(reg)))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)

	var ready atomic.Bool
	admin := &http.Server{Handler: adminMux(reg, &ready), ReadHeaderTimeout: 5 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(grpcLis) }()
	go func() { errc <- admin.Serve(adminLis) }()

	setServing(hs, true)
	ready.Store(true)
	log.Info().Str("grpc_addr", grpcLis.Addr().String()).Str("admin_addr", adminLis.Addr().String()).Msg("serving")
	if cfg.Ready != nil {
		cfg.Ready(grpcLis.Addr(), adminLis.Addr())
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error().Err(err).Msg("server failed")
	}

	// Tell Envoy first, so it stops sending new checks, then drain.
	ready.Store(false)
	setServing(hs, false)
	log.Info().Msg("shutting down")
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(cfg.ShutdownGrace):
		gs.Stop()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	admin.Shutdown(shutdownCtx)
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func setServing(hs *health.Server, serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	hs.SetServingStatus("", st)
	hs.SetServingStatus(AuthorizationService, st)
}

// adminMux serves the Kubernetes probes and the metrics.
func adminMux(reg *prometheus.Registry, ready *atomic.Bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// registerReplayMetrics exposes the replay cache's size and early evictions.
func registerReplayMetrics(reg prometheus.Registerer, m *replay.Memory) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookguard_replay_cache_entries",
			Help: "Deliveries held by the in-memory replay cache.",
		}, func() float64 { return float64(m.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "hookguard_replay_cache_evicted_early_total",
			Help: "Deliveries dropped for lack of room before their TTL; non-zero means the cache is too small.",
		}, func() float64 { return float64(m.EvictedEarly()) }),
	)
}
