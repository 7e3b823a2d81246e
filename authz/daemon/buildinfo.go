package daemon

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// registerBuildInfo registers hookguard_build_info: always 1, labelled with
// the build, so a dashboard can tell which versions a fleet runs, and a
// query can join any other series on it.
func registerBuildInfo(reg prometheus.Registerer, version, revision string) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookguard_build_info",
		Help: "Always 1; the labels describe the running build.",
		ConstLabels: prometheus.Labels{
			"version":   orUnknown(version),
			"revision":  orUnknown(revision),
			"goversion": runtime.Version(),
		},
	}, func() float64 { return 1 }))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
