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
			Name: "hookguard_check_duration_seconds",
			Help: "Time to decide one ext_authz check, from the decoded request to the answer, log and metrics included.",
			// A check takes microseconds: classic buckets from 5 µs, and
			// a native histogram (about 10% resolution) for servers that
			// scrape it.
			Buckets:                         []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 50e-3, 250e-3},
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
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
