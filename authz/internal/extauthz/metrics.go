package extauthz

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookguard/hookguard/authz"
)

// Metrics are the Prometheus metrics of decisions. The label values are
// bounded: endpoint names come from the policy, reasons from the closed set.
type Metrics struct {
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookguard_decisions_total",
			Help: "Decisions by endpoint, decision (allow, deny or handshake; a DRY_RUN failure is deny), reason and mode (enforce or dry_run).",
		}, []string{"endpoint", "decision", "reason", "mode"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookguard_check_duration_seconds",
			Help:    "Time to decide one ext_authz check.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}),
	}
	reg.MustRegister(m.decisions, m.latency)
	return m
}

func (m *Metrics) observe(d *authz.Decision, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(d.Endpoint, string(d.Outcome()), string(d.Reason), mode(d)).Inc()
	m.latency.Observe(elapsed.Seconds())
}
