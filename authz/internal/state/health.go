package state

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// fallbackLogEvery bounds the fallback log lines: one per endpoint and
// operation in this interval, however many decisions fall back. The
// counter counts every one.
const fallbackLogEvery = 10 * time.Second

// Health follows a state backend: it counts errors by operation, keeps an
// up gauge, and logs each outage twice, when it starts and when it ends, not
// once per failed request. It also counts and logs the decisions that an
// endpoint's local fallback took during an outage. A nil *Health records
// nothing.
type Health struct {
	backend   string
	log       zerolog.Logger
	errors    *prometheus.CounterVec
	up        prometheus.Gauge
	fallbacks *prometheus.CounterVec

	// down is read on every successful operation; the rest is only
	// touched when the state changes.
	down        atomic.Bool
	mu          sync.Mutex
	connected   bool // the backend answered at least once
	since       time.Time
	failures    uint64
	fallbackLog map[[2]string]time.Time
}

// NewHealth returns the health of backend ("redis"), with its metrics
// registered with reg:
//
//   - hookguard_state_backend_up{backend}: 1 while the last operation
//     succeeded, 0 from the first failure until the next success;
//   - hookguard_state_backend_errors_total{backend,op}: failed operations
//     (remember, forget, take, ping);
//   - hookguard_state_fallback_total{endpoint,op}: decisions taken on
//     local state because the backend failed, for endpoints with
//     state_fallback: local.
func NewHealth(backend string, log zerolog.Logger, reg prometheus.Registerer) *Health {
	h := &Health{
		backend: backend,
		log:     log,
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_state_backend_errors_total",
			Help: "State backend operations that failed (error or timeout), by backend and operation; each was answered 503 or by an endpoint's local fallback.",
		}, []string{"backend", "op"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "hookguard_state_backend_up",
			Help:        "1 while the shared state backend answers, 0 during an outage (checks needing it are answered 503 or by local fallback).",
			ConstLabels: prometheus.Labels{"backend": backend},
		}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_state_fallback_total",
			Help: "Decisions taken on this replica's local state because the shared backend failed, by endpoint (state_fallback: local) and operation.",
		}, []string{"endpoint", "op"}),
		fallbackLog: map[[2]string]time.Time{},
	}
	h.down.Store(true)
	for _, op := range []string{"remember", "forget", "take", "ping"} {
		h.errors.WithLabelValues(backend, op)
	}
	reg.MustRegister(h.errors, h.up, h.fallbacks)
	return h
}

// Up reports whether the last operation succeeded.
func (h *Health) Up() bool { return h != nil && !h.down.Load() }

func (h *Health) ok() {
	if h == nil || !h.down.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down.Load() {
		return
	}
	h.down.Store(false)
	h.up.Set(1)
	if !h.connected {
		h.connected = true
		h.log.Info().Str("backend", h.backend).Msg("state backend connected")
		return
	}
	h.log.Info().Str("backend", h.backend).
		Float64("outage_seconds", time.Since(h.since).Seconds()).
		Uint64("failed_operations", h.failures).
		Msg("state backend recovered")
}

func (h *Health) failed(op string, err error) {
	if h == nil {
		return
	}
	h.errors.WithLabelValues(h.backend, op).Inc()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.Load() && (h.failures > 0 || h.connected) {
		h.failures++
		return
	}
	h.down.Store(true)
	h.up.Set(0)
	h.since = time.Now()
	h.failures = 1
	h.log.Error().Str("backend", h.backend).Str("op", op).Err(err).
		Msg("state backend unavailable; checks that need it are answered 503, or from local state where an endpoint has state_fallback: local")
}

// Fallback records that endpoint's op was decided on local state.
func (h *Health) Fallback(endpoint, op string, err error) {
	if h == nil {
		return
	}
	h.fallbacks.WithLabelValues(endpoint, op).Inc()
	now := time.Now()
	k := [2]string{endpoint, op}
	h.mu.Lock()
	last, seen := h.fallbackLog[k]
	log := !seen || now.Sub(last) >= fallbackLogEvery
	if log {
		h.fallbackLog[k] = now
	}
	h.mu.Unlock()
	if log {
		h.log.Warn().Str("backend", h.backend).Str("endpoint", endpoint).Str("op", op).Err(err).
			Msg("state backend failed; endpoint decided on this replica's local state (state_fallback: local)")
	}
}
