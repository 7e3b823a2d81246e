package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Micro is one Go benchmark's result.
type Micro struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	CPUNsPerOp  float64 `json:"cpu_ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// microBenchmarks are the Go benchmarks the report quotes: the decision
// core on a 1 KiB GitHub delivery against its HMAC alone, and a whole
// check in process through the generic codec and the wire codec.
var microBenchmarks = []struct{ pkg, pattern string }{
	{"./authz/", `^BenchmarkCheck$/^github-(allow|forged)-1KiB$`},
	{"./authz/", `^BenchmarkHMAC1KiB$`},
	{"./authz/internal/extauthz/", `^BenchmarkServerCheck$/^(generic|wire)$/^(allow|forged)-1KiB$`},
}

// runMicro runs the micro benchmarks with go test in the repository.
func runMicro(ctx context.Context, benchtime string) ([]Micro, error) {
	var out []Micro
	for _, b := range microBenchmarks {
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", b.pattern, "-benchmem", "-benchtime", benchtime, "-count", "1", b.pkg)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go test -bench %s: %w\n%s%s", b.pkg, err, stdout.String(), stderr.String())
		}
		ms, err := parseBench(stdout.String())
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// parseBench reads the result lines of go test -bench.
func parseBench(s string) ([]Micro, error) {
	var out []Micro
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		m := Micro{Name: f[0]}
		if i := strings.LastIndexByte(m.Name, '-'); i > 0 {
			m.Name = m.Name[:i] // the GOMAXPROCS suffix
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			switch f[i+1] {
			case "ns/op":
				m.NsPerOp = v
			case "cpu-ns/op":
				m.CPUNsPerOp = v
			case "B/op":
				m.BytesPerOp = v
			case "allocs/op":
				m.AllocsPerOp = v
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}
