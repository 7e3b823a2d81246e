package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	m := func(server string, size, conc int, rps, p99, cpu float64, rounds ...float64) Measurement {
		return Measurement{Server: server, BodyBytes: size, Concurrency: conc, RPS: rps, P99us: p99, CPUus: cpu, Rounds: rounds, Requests: 100}
	}
	res := &Results{
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", GoVersion: "go1.26"},
		Options: map[string]any{"duration_s": 4, "slice_s": 0.5, "warmup_s": 0.5},
		GRPC: []Measurement{
			m("hookguard", 1024, 16, 1200, 900, 60, 1100, 1300), m("baseline", 1024, 16, 900, 1200, 90, 850, 950), m("floor", 1024, 16, 1000, 1000, 70, 1000, 1000),
			m("hookguard", 1024, 64, 900, 3000, 60), m("baseline", 1024, 64, 800, 4000, 90), m("floor", 1024, 64, 1000, 2500, 70),
		},
		Envoy: []Measurement{
			m("envoy+hookguard", 1024, 16, 500, 1, 0, 500), m("envoy+baseline", 1024, 16, 400, 1, 0, 400),
			m("envoy+floor", 1024, 16, 500, 1, 0, 500), m("envoy+no_ext_authz", 1024, 16, 1000, 1, 0, 1000),
		},
		Stores: map[string]any{
			"nonces":         []any{map[string]any{"entries": 500.0, "heap_bytes": 100000.0, "bytes_per_entry": 200.0}, map[string]any{"entries": 1000.0, "heap_bytes": 150000.0, "bytes_per_entry": 150.0}},
			"ratelimit_keys": map[string]any{"entries": 1000.0, "heap_bytes": 300000.0, "bytes_per_entry": 300.0},
			"gc_share_ratio": 1.5,
		},
	}
	out := filepath.Join(dir, "BENCHMARKS.md")
	if err := writeReport(out, filepath.Join(dir, "charts"), res); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	report := string(b)
	for _, want := range []string{
		"Test CPU, 2 cores",
		"| 1 KiB | 16 | 1.20× (turns 1.10–1.30) | 0.90× | 0.86× | 0.90× (turns 0.85–0.95) | 1.20× | 1.29× |",
		"| gRPC 1 KiB, 16 in flight: req/s ≥ 1.0× the floor | 1.20× (turns 1.10–1.30) | met |",
		"| gRPC 1 KiB, 64 in flight: req/s ≥ 1.0× the floor | 0.90× | missed |",
		"| gRPC 1 KiB, 64 in flight: p99 ≤ the floor's | 1.20× | missed |",
		"| Envoy, 16 in flight: req/s ≥ 0.95× Envoy calling the floor | 1.00× | met |",
		"| replay store: ≤ 160 B per remembered delivery at the largest fill | 150 B | met |",
		"| GC share of CPU, full replay store ÷ empty | 1.50× | missed |",
		"](charts/grpc-rps.svg)", "](charts/memory.svg)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	for _, f := range []string{"grpc-rps.svg", "grpc-p99.svg", "memory.svg"} {
		if _, err := os.Stat(filepath.Join(dir, "charts", f)); err != nil {
			t.Error(err)
		}
	}
}

func TestParseBench(t *testing.T) {
	ms, err := parseBench(`goos: linux
BenchmarkCheck/github-allow-1KiB-2         	  200000	     10905 ns/op	  93.90 MB/s	      3511 cpu-ns/op	     256 B/op	       4 allocs/op
BenchmarkHMAC1KiB-2                        	  200000	      4083 ns/op	 250.82 MB/s	       927.6 cpu-ns/op	       0 B/op	       0 allocs/op
PASS
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "BenchmarkCheck/github-allow-1KiB" || ms[0].CPUNsPerOp != 3511 || ms[0].AllocsPerOp != 4 || ms[1].CPUNsPerOp != 927.6 {
		t.Errorf("%+v", ms)
	}
}
