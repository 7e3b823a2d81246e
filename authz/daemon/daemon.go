// Package daemon runs hookguard: it loads the policy, serves the ext_authz
// and health gRPC services, and serves the admin HTTP endpoints (probes and
// metrics) until its context is cancelled, then stops gracefully.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/accesslog"
	"github.com/hookguard/hookguard/authz/internal/extauthz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/reload"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/policy"
)

// AuthorizationService is the gRPC service name Envoy's health check asks
// about.
const AuthorizationService = "envoy.service.auth.v3.Authorization"

// PolicyService is the gRPC health service name that reports the policy:
// SERVING while the last load compiled, NOT_SERVING while a refused change
// leaves an older set in force. Envoy never asks for it, so a refused change
// takes no replica out of service; monitoring can.
const PolicyService = "hookguard.policy"

// DefaultMaxRecvBytes is the default gRPC receive limit: room for the 1 MiB
// body Envoy buffers by default, plus headers and framing, with margin.
const DefaultMaxRecvBytes = 4 << 20

// DefaultNonceCapacity is the default number of deliveries the in-memory
// replay store holds, all endpoints' shares together.
const DefaultNonceCapacity = replay.DefaultCapacity

// DefaultReloadDebounce is the default quiet time after a policy change
// before it is reloaded.
const DefaultReloadDebounce = reload.DefaultDebounce

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
	// NonceCapacity bounds the in-memory replay store, in deliveries; the
	// endpoints' replay shares must fit in it. 0 means
	// DefaultNonceCapacity.
	NonceCapacity int
	// State is where replay nonces and rate-limit buckets live: "" or
	// "memory" for this process (the default, for one replica), or a Redis
	// URL that replicas share (see state.ParseRedisURL).
	State string
	// StatePrefix starts every Redis key; "" means state.DefaultPrefix.
	StatePrefix string
	// StateTimeout bounds each Redis operation; 0 means
	// state.DefaultTimeout. A check whose state does not answer in time is
	// denied with 503 unavailable, or decided on local state for an
	// endpoint with state_fallback: local.
	StateTimeout time.Duration
	// ShutdownGrace is how long in-flight checks get to finish on stop.
	ShutdownGrace time.Duration
	// Log receives operational messages and one line per decision.
	Log zerolog.Logger
	// Ready, if set, receives the bound addresses once serving.
	Ready func(grpcAddr, adminAddr net.Addr)

	// DisableWatch turns the policy file watch off: the policy is then
	// reloaded only on Reload. For file systems without change events.
	DisableWatch bool
	// ReloadDebounce is how long the policy files must be quiet after a
	// change before they are reloaded; 0 means reload.DefaultDebounce.
	ReloadDebounce time.Duration
	// Reload, if set, asks for a reload on every receive (SIGHUP).
	Reload <-chan struct{}
	// Secrets resolves the policy's secret references; nil means the
	// process environment and file system.
	Secrets policy.SecretSource

	// Version and Revision describe the running build, as `hookguard
	// version` prints them; they label the hookguard_build_info metric
	// and the start-up log line. Empty means unknown.
	Version, Revision string

	// GRPCAddr and AdminAddr may also be unix sockets,
	// unix:///run/hookguard/authz.sock, created with SocketMode (0 means
	// DefaultSocketMode). See listen.go.
	SocketMode os.FileMode
	// TLS, if set, makes the gRPC listener speak TLS and require a client
	// certificate issued by its client CA, with the files reloaded on
	// change (see TLSFiles).
	TLS *TLSFiles
	// GRPCClientIDs, if set, admits only gRPC clients whose certificate
	// names one of them (SPIFFE ID or DNS SAN); see ParseClientIDs.
	GRPCClientIDs []string
	// AdminTLS serves the admin endpoints with the TLS files too, client
	// certificate required; AdminClientIDs restricts those clients.
	AdminTLS       bool
	AdminClientIDs []string
	// HealthAddr, if set, serves only the gRPC health service there in
	// plaintext, for Kubernetes gRPC probes when GRPCAddr speaks mTLS.
	HealthAddr string
	// GRPCMaxConnectionAge, if set, has gRPC clients reconnect that often
	// (GOAWAY, in-flight checks finish), so rotated certificates and new
	// replicas are used by long-lived clients such as Envoy.
	GRPCMaxConnectionAge time.Duration
	// LogOutput, if set, is where Log writes. Decision lines are then
	// written to it, several lines per Write (see EachLine), through a
	// buffer of DecisionLogBuffer bytes (0 means
	// DefaultDecisionLogBuffer), so that a slow log never delays a decision:
	// a line that does not fit is dropped and counted in
	// hookguard_decision_log_dropped_total. Without it decision lines go
	// through Log as they are made.
	LogOutput         io.Writer
	DecisionLogBuffer int
	// AllowLogSkip is the share of allowed decisions left out of the
	// decision log, from 0 (all logged) to 1 (none); denials are always
	// logged.
	AllowLogSkip float64
	// OTLPEndpoint, if set, is the OTLP/gRPC collector (http://host:port
	// or https://host:port) that receives a span per check; see
	// startTracing. TraceSampleRatio is the share of checks traced whose
	// request carries no sampled trace context.
	OTLPEndpoint     string
	TraceSampleRatio float64
	// Pprof serves net/http/pprof on the admin address, under
	// /debug/pprof/.
	Pprof bool
}

// Run loads the policy and serves until ctx is cancelled. An invalid policy
// set is an error before anything is served: it is logged with every
// diagnostic the way a refused reload is, and the error summarises it on
// one line and unwraps to the policy.Errors. While serving, the policy is
// reloaded when its files or secret files change and on Reload; a set that
// does not compile is refused and the running one stays (see package
// authz/internal/reload), with the refusal logged, counted in the metrics and shown
// by /readyz and /status.
func Run(ctx context.Context, cfg Config) error {
	if cfg.MaxRecvBytes <= 0 {
		cfg.MaxRecvBytes = DefaultMaxRecvBytes
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	log := cfg.Log

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	memNonces := replay.NewMemory(replay.MemoryConfig{Capacity: cfg.NonceCapacity, EvictedEarly: func(endpoint string, total uint64) {
		logEvictedEarly(log, endpoint, total)
	}})
	reg.MustRegister(newReplayCollector(memNonces))
	pm := newPolicyMetrics(reg)
	registerBuildInfo(reg, cfg.Version, cfg.Revision)
	se := newStateErrors(reg)

	memLimiter := ratelimit.NewMemory()
	var a *authz.Authorizer
	nonces, limiter, shared, err := openState(cfg, log, reg, memNonces, memLimiter, func(name string) bool {
		p := a.Policy()
		if p == nil {
			return false
		}
		e := p.Endpoint(name)
		return e != nil && e.StateFallback
	})
	if err != nil {
		return err
	}
	if shared != nil {
		defer shared.Close()
	}
	backend := "memory"
	if shared != nil {
		backend = "redis"
	}
	a = authz.NewAuthorizer(authz.Config{Nonces: se.nonces(nonces, backend), Limiter: se.limiter(limiter, backend)})
	reg.MustRegister(newRateLimitKeys(a, memLimiter))
	obs, err := startObservability(ctx, cfg, a, reg)
	if err != nil {
		return err
	}
	defer obs.stop()
	hs := health.NewServer()
	var reloader *reload.Reloader
	reloader = reload.New(cfg.PolicyDir, a, reload.Config{
		Secrets:       cfg.Secrets,
		NonceCapacity: cfg.NonceCapacity,
		Debounce:      cfg.ReloadDebounce,
		Manual:        cfg.DisableWatch,
		Notify: func(e reload.Event) {
			if e.Err == nil && e.Result != nil {
				// Endpoints a reload removed keep no buckets, and no
				// replay share: their room is for the endpoints that
				// remain.
				p := e.Result.Policy
				memLimiter.Retain(func(name string) bool { return p.Endpoint(name) != nil })
				memNonces.Retain(func(name string) bool { e := p.Endpoint(name); return e != nil && e.ReplayTTL > 0 })
			}
			pm.observe(e)
			policyHealth(hs, e)
			logReload(log, e, reloader)
		},
		WatchError: func(err error) {
			log.Warn().Err(err).Msg("policy watch")
		},
	})
	if err := reloader.Load(reload.TriggerStart); err != nil {
		// Notify logged every diagnostic, as for a refused reload; the
		// error says it on one line.
		return fmt.Errorf("policy %s refused: %w", cfg.PolicyDir, err)
	}

	lk, err := openLink(cfg, log)
	if err != nil {
		return err
	}
	grpcLis, adminLis := lk.grpc, lk.admin

	gs := grpc.NewServer(append(append(lk.grpcOpts, obs.grpcOptions()...), grpc.MaxRecvMsgSize(cfg.MaxRecvBytes))...)
	extauthz.Register(gs, obs.authorization)
	// On the same listener as Check, so only what may call Check (Envoy,
	// over mTLS or the socket) may report how requests ended.
	accesslog.NewServer(nonces, log, reg).Register(gs)
	healthpb.RegisterHealthServer(gs, hs)
	obs.grpc.resolve(gs)

	var ready atomic.Bool
	admin := &http.Server{Handler: obs.admin(adminMux(reg, &ready, reloader)), ReadHeaderTimeout: 5 * time.Second}

	errc := make(chan error, 3)
	go func() { errc <- gs.Serve(grpcLis) }()
	go func() { errc <- admin.Serve(adminLis) }()
	reloadCtx, stopReload := context.WithCancel(context.Background())
	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		if err := reloader.Run(reloadCtx); err != nil && !errors.Is(err, context.Canceled) {
			// Serving on without reloads would hide that merged changes
			// never arrive: stop, and let the supervisor restart us.
			errc <- fmt.Errorf("policy watch: %w", err)
		}
	}()
	defer func() { stopReload(); <-reloadDone }()
	if lk.certs != nil {
		go lk.certs.watch(reloadCtx)
	}
	if shared != nil {
		go shared.Watch(reloadCtx, time.Second)
		go warnEviction(reloadCtx, shared, log)
	}
	if lk.health != nil {
		defer serveHealth(lk.health, hs)()
	}
	if cfg.Reload != nil {
		go func() {
			for {
				select {
				case <-reloadCtx.Done():
					return
				case <-cfg.Reload:
					reloader.Trigger()
				}
			}
		}()
	}

	setServing(hs, true)
	ready.Store(true)
	log.Info().Str("grpc_addr", grpcLis.Addr().String()).Str("admin_addr", adminLis.Addr().String()).Str("version", cfg.Version).Msg("serving")
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

// adminMux serves the Kubernetes probes, the status and the metrics.
//
// /readyz answers 200 while serving, whether or not the last reload was
// refused: the running policy is still good, and failing readiness would
// take every replica out at once on a bad merge, the outage last-known-good
// exists to prevent. The refusal is in the body, in /status and in the
// metrics, for alerts.
func adminMux(reg *prometheus.Registry, ready *atomic.Bool, r *reload.Reloader) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	status := func(w http.ResponseWriter, code int) {
		body := adminStatus{Ready: ready.Load(), Policy: r.Status()}
		body.PolicyOK = body.Policy.LastFailure == nil
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(body)
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			status(w, http.StatusServiceUnavailable)
			return
		}
		status(w, http.StatusOK)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		status(w, http.StatusOK)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// adminStatus is the body of /readyz and /status.
type adminStatus struct {
	// Ready is false before serving and while shutting down.
	Ready bool `json:"ready"`
	// PolicyOK is false when the last reload was refused; the policy in
	// force is then the last one that compiled.
	PolicyOK bool `json:"policy_ok"`
	// Policy describes the policy in force and the last refusal.
	Policy reload.Status `json:"policy"`
}

// policyHealth sets PolicyService from a load attempt.
func policyHealth(hs *health.Server, e reload.Event) {
	st := healthpb.HealthCheckResponse_SERVING
	if e.Err != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	hs.SetServingStatus(PolicyService, st)
}

// policyMetrics are the metrics of policy loads. Alert on
// hookguard_policy_last_reload_success == 0: a change was merged that is not
// live.
type policyMetrics struct {
	info        *prometheus.GaugeVec
	reloads     *prometheus.CounterVec
	errors      *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	lastTime    prometheus.Gauge
}

func newPolicyMetrics(reg prometheus.Registerer) *policyMetrics {
	m := &policyMetrics{
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookguard_policy_info",
			Help: "The policy set in force: 1 for its revision (a Git commit, or a content digest outside Git) and digest.",
		}, []string{"revision", "digest"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_policy_reloads_total",
			Help: "Policy loads that compiled and took effect, by trigger (start, watch, signal, or recheck: the check right after start or after new files are watched, counted only when it found a change).",
		}, []string{"trigger"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_policy_reload_errors_total",
			Help: "Policy loads refused because the set did not compile, by trigger; the running policy stayed.",
		}, []string{"trigger"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookguard_policy_last_reload_success",
			Help: "1 when the last policy load compiled, 0 when it was refused and an older set is in force.",
		}),
		lastTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookguard_policy_last_reload_success_timestamp_seconds",
			Help: "When the last policy load that compiled finished, as a Unix time.",
		}),
	}
	// Every trigger's series exists from the start at 0, so that a rate or
	// an increase over the first refusal sees it, and alerts need no
	// absent().
	for _, t := range reload.Triggers() {
		m.reloads.WithLabelValues(t)
		m.errors.WithLabelValues(t)
	}
	reg.MustRegister(m.info, m.reloads, m.errors, m.lastSuccess, m.lastTime)
	return m
}

func (m *policyMetrics) observe(e reload.Event) {
	if e.Err != nil && e.Repeated && e.Trigger == reload.TriggerRecheck {
		// A re-check found the set that was refused still there.
		return
	}
	if e.Err != nil {
		m.errors.WithLabelValues(e.Trigger).Inc()
		m.lastSuccess.Set(0)
		return
	}
	if e.Trigger == reload.TriggerRecheck && !e.Changed && !e.Restored {
		// The check right after start found the set it started with: no
		// reload happened.
		return
	}
	m.reloads.WithLabelValues(e.Trigger).Inc()
	m.lastSuccess.Set(1)
	m.lastTime.Set(float64(e.At.UnixNano()) / 1e9)
	if e.Changed {
		m.info.Reset()
		m.info.WithLabelValues(e.Result.Revision, e.Result.Digest).Set(1)
	}
}

// logReload logs a load attempt: a refused one at error with every
// diagnostic (at start and on a reload alike), a new set at info with its
// warnings, a good set after a refused one at info as "policy restored"
// (even when it is the set that stayed in force), and an unchanged one at
// debug.
func logReload(log zerolog.Logger, e reload.Event, r *reload.Reloader) {
	if e.Err != nil && e.Repeated && e.Trigger == reload.TriggerRecheck {
		log.Debug().Str("trigger", e.Trigger).Int("error_count", len(e.Err.Errors)).Msg("policy still refused")
		return
	}
	if e.Err != nil {
		ev := log.Error().Str("trigger", e.Trigger)
		if rev := r.Status().Revision; rev != "" {
			ev = ev.Str("policy_revision", rev)
		}
		ev = ev.Int("error_count", len(e.Err.Errors)).Interface("errors", e.Err.Errors)
		msg := "policy refused; the running policy stays in force"
		if e.Trigger == reload.TriggerStart {
			msg = "policy refused; not serving"
		}
		ev.Msg(msg)
		return
	}
	res := e.Result
	var msg string
	switch {
	case e.Restored:
		msg = "policy restored"
	case !e.Changed:
		log.Debug().Str("trigger", e.Trigger).Str("policy_revision", res.Revision).Msg("policy unchanged")
		return
	case e.Trigger == reload.TriggerStart:
		msg = "policy loaded"
	default:
		msg = "policy reloaded"
	}
	log.Info().Str("trigger", e.Trigger).Str("policy_revision", res.Revision).Str("policy_digest", res.Digest).
		Bool("changed", e.Changed).Int("endpoints", len(res.Policy.Endpoints())).Int("files", len(res.Files)).
		Float64("duration_ms", float64(e.Duration.Microseconds())/1000).Msg(msg)
	if !e.Changed {
		return
	}
	for _, w := range res.Warnings {
		log.Warn().Str("policy_revision", res.Revision).Str("warning", w.Error()).Msg("policy warning")
	}
}

// replayCollector exports the replay store's figures: the deliveries it
// holds, and per endpoint its share, what the share holds and the
// deliveries evicted early from it. The endpoint label takes only the
// names of the policy's endpoints, never request data.
type replayCollector struct {
	m                      *replay.Memory
	entries                *prometheus.Desc
	shareEntries, shareCap *prometheus.Desc
	earlyEvictions         *prometheus.Desc
}

func newReplayCollector(m *replay.Memory) *replayCollector {
	return &replayCollector{
		m: m,
		entries: prometheus.NewDesc("hookguard_replay_cache_entries",
			"Deliveries held by the in-memory replay store, every endpoint's together.", nil, nil),
		shareEntries: prometheus.NewDesc("hookguard_replay_share_entries",
			"Deliveries held in an endpoint's share of the replay store.", []string{"endpoint"}, nil),
		shareCap: prometheus.NewDesc("hookguard_replay_share_capacity",
			"Most deliveries an endpoint's share of the replay store holds (replay.capacity).", []string{"endpoint"}, nil),
		earlyEvictions: prometheus.NewDesc("hookguard_replay_early_evictions_total",
			"Deliveries of an endpoint evicted from its full share before their TTL: a replay of each would have been accepted. Non-zero means the share is too small for the endpoint's traffic and TTL.",
			[]string{"endpoint"}, nil),
	}
}

// Describe sends the descriptors of every metric Collect sends.
func (c *replayCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.shareEntries
	ch <- c.shareCap
	ch <- c.earlyEvictions
}

// Collect reads the store's shares.
func (c *replayCollector) Collect(ch chan<- prometheus.Metric) {
	total := 0
	for _, s := range c.m.Shares() {
		total += s.Entries
		ch <- prometheus.MustNewConstMetric(c.shareEntries, prometheus.GaugeValue, float64(s.Entries), s.Endpoint)
		ch <- prometheus.MustNewConstMetric(c.shareCap, prometheus.GaugeValue, float64(s.Capacity), s.Endpoint)
		ch <- prometheus.MustNewConstMetric(c.earlyEvictions, prometheus.CounterValue, float64(s.EvictedEarly), s.Endpoint)
	}
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(total))
}

// logEvictedEarly logs that endpoint's replay share evicted deliveries
// before their TTL; the store calls it at most once a minute per endpoint.
func logEvictedEarly(log zerolog.Logger, endpoint string, total uint64) {
	log.Warn().Str("endpoint", endpoint).Uint64("evicted_early_total", total).
		Msg("replay share full: deliveries evicted before their ttl, so a copy of one would be accepted; raise the endpoint's replay.capacity (and --nonce-capacity), or set replay.on_full: reject")
}
