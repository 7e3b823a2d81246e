//go:build unix

package authz_test

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU reports the process's CPU time per operation since start as
// cpu-ns/op: on a machine shared with other work the wall time of ns/op
// includes the time the benchmark was not running, its CPU time does not.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
