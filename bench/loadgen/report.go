package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hookguard/hookguard/bench/chart"
)

func machine(hookguard string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(hookguard, "version").Output(); err == nil {
		m.Hookguard = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	return m
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// key identifies a case across repetitions.
type key struct {
	server     string
	size, conc int
}

// byCase groups measurements by case.
func byCase(ms []Measurement) map[key][]Measurement {
	out := map[key][]Measurement{}
	for _, m := range ms {
		k := key{m.Server, m.BodyBytes, m.Concurrency}
		out[k] = append(out[k], m)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// stat is the median of f over the repetitions of a case.
func stat(ms []Measurement, f func(Measurement) float64) float64 {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = f(m)
	}
	return median(xs)
}

// ratio is a's f over b's f, paired by repetition: the median and the
// spread.
type ratio struct{ med, lo, hi float64 }

func ratioOf(a, b []Measurement, f func(Measurement) float64) ratio {
	if len(a) == 0 || len(b) == 0 || f(b[0]) == 0 {
		return ratio{}
	}
	x := f(a[0]) / f(b[0])
	return ratio{x, x, x}
}

// rpsRatio is a's requests/s over b's: over the whole case, and the spread
// of the ratios of their turns, paired in order.
func rpsRatio(a, b []Measurement) ratio {
	r := ratioOf(a, b, rps)
	if len(a) == 0 || len(b) == 0 {
		return r
	}
	var xs []float64
	for i := range min(len(a[0].Rounds), len(b[0].Rounds)) {
		if b[0].Rounds[i] > 0 {
			xs = append(xs, a[0].Rounds[i]/b[0].Rounds[i])
		}
	}
	if len(xs) > 1 {
		r.lo, r.hi = slices.Min(xs), slices.Max(xs)
	}
	return r
}

func (r ratio) String() string {
	if r.lo == r.hi {
		return fmt.Sprintf("%.2f×", r.med)
	}
	return fmt.Sprintf("%.2f× (turns %.2f–%.2f)", r.med, r.lo, r.hi)
}

func rps(m Measurement) float64   { return m.RPS }
func p99(m Measurement) float64   { return m.P99us }
func cpuus(m Measurement) float64 { return m.CPUus }

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// writeReport writes the Markdown report to path and its charts to
// chartDir.
func writeReport(path, chartDir string, r *Results) error {
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(path), chartDir)
	if err != nil {
		rel = chartDir
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Benchmarks\n\n")
	p("Written by `make bench` (bench/loadgen); do not edit. How to read and reproduce these figures: [docs/performance.md](docs/performance.md).\n\n")
	m := r.Machine
	p("| machine | |\n|---|---|\n")
	p("| CPU | %s, %d cores |\n| Go | %s |\n| kernel | %s |\n| hookguard | %s |\n| date | %s |\n| load average (1, 5, 15 min) | %s at the start, %s at the end |\n",
		m.CPUModel, m.CPUs, m.GoVersion, m.Kernel, m.Hookguard, m.Date, m.LoadStart, m.LoadEnd)
	p("| runs | each server %v s per case, in turns of %v s taking alternate order, after %v s warm-up |\n\n", r.Options["duration_s"], r.Options["slice_s"], r.Options["warmup_s"])
	p("The load generator, the servers and Envoy share the machine's cores, and the machine may be running other work: the servers of a case take turns, so that whatever else runs weighs on them alike, and the ratios between them are the figures to compare. A ratio's spread is that of its turns.\n\n")

	g := byCase(r.GRPC)
	var sizes, concs []int
	for k := range g {
		if !slices.Contains(sizes, k.size) {
			sizes = append(sizes, k.size)
		}
		if !slices.Contains(concs, k.conc) {
			concs = append(concs, k.conc)
		}
	}
	slices.Sort(sizes)
	slices.Sort(concs)
	names := []string{"hookguard", "floor"}
	baseline := false
	for k := range g {
		if k.server == "baseline" {
			baseline = true
			names = []string{"hookguard", "baseline", "floor"}
			break
		}
	}
	var targets []string
	if len(r.GRPC) > 0 {
		p("## gRPC: hookguard against the floor\n\n")
		p("`hookguard serve` (the full pipeline: match, GitHub HMAC, replay store, decision log, metrics) and the floor (bench/floor: HMAC only, grpc-go defaults), each its own process, sent the same CheckRequests over one gRPC connection each: Envoy's header set, the body as raw_body, a fresh signature per request. Server CPU is the process's user and system time over the requests it answered.\n\n")
		if baseline {
			p("The baseline is an earlier build of hookguard, measured in the same turns.\n\n")
		}
		p("| body | in flight | server | req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | server CPU µs/req | peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, size := range sizes {
			for _, conc := range concs {
				for _, srv := range names {
					ms := g[key{srv, size, conc}]
					if len(ms) == 0 {
						continue
					}
					p("| %s | %d | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f |\n", sizeName(size), conc, srv,
						stat(ms, rps), stat(ms, func(m Measurement) float64 { return m.P50us }), stat(ms, func(m Measurement) float64 { return m.P90us }),
						stat(ms, p99), stat(ms, func(m Measurement) float64 { return m.P999us }), stat(ms, cpuus), stat(ms, func(m Measurement) float64 { return m.PeakRSSMiB }))
				}
			}
		}
		p("\n| body | in flight | req/s, hookguard ÷ floor | p99, hookguard ÷ floor | CPU per request, hookguard ÷ floor |")
		if baseline {
			p(" req/s, baseline ÷ floor | p99, baseline ÷ floor | CPU per request, baseline ÷ floor |\n|---|---|---|---|---|---|---|---|\n")
		} else {
			p("\n|---|---|---|---|---|\n")
		}
		for _, size := range sizes {
			for _, conc := range concs {
				h, f := g[key{"hookguard", size, conc}], g[key{"floor", size, conc}]
				if len(h) == 0 || len(f) == 0 {
					continue
				}
				rr, pr := rpsRatio(h, f), ratioOf(h, f, p99)
				p("| %s | %d | %s | %s | %s |", sizeName(size), conc, rr, pr, ratioOf(h, f, cpuus))
				if b := g[key{"baseline", size, conc}]; baseline {
					p(" %s | %s | %s |", rpsRatio(b, f), ratioOf(b, f, p99), ratioOf(b, f, cpuus))
				}
				p("\n")
				if conc > 1 {
					targets = append(targets, fmt.Sprintf("| gRPC %s, %d in flight: req/s ≥ 1.0× the floor | %s | %s |", sizeName(size), conc, rr, met(rr.med >= 1)))
					if size <= 1024 {
						targets = append(targets, fmt.Sprintf("| gRPC %s, %d in flight: p99 ≤ the floor's | %s | %s |", sizeName(size), conc, pr, met(pr.med <= 1)))
					}
				}
			}
		}
		p("\n")
		for _, c := range []struct {
			file, title, ylabel string
			f                   func(Measurement) float64
		}{
			{"grpc-rps.svg", "gRPC requests/s against requests in flight", "requests/s", rps},
			{"grpc-p99.svg", "gRPC p99 latency against requests in flight", "p99 µs", p99},
		} {
			ch := &chart.Line{Title: c.title, XLabel: "requests in flight", YLabel: c.ylabel, LogX: true}
			for _, conc := range concs {
				ch.XTicks = append(ch.XTicks, float64(conc))
			}
			for _, size := range sizes {
				for _, srv := range names {
					s := chart.Series{Name: srv + " " + sizeName(size), Dashed: srv == "floor"}
					for _, conc := range concs {
						if ms := g[key{srv, size, conc}]; len(ms) > 0 {
							s.X, s.Y = append(s.X, float64(conc)), append(s.Y, stat(ms, c.f))
						}
					}
					ch.Series = append(ch.Series, s)
				}
			}
			if err := writeChart(filepath.Join(chartDir, c.file), ch); err != nil {
				return err
			}
			p("![%s](%s)\n\n", c.title, filepath.ToSlash(filepath.Join(rel, c.file)))
		}
	}

	if len(r.Envoy) > 0 {
		e := byCase(r.Envoy)
		var econcs []int
		for k := range e {
			if !slices.Contains(econcs, k.conc) {
				econcs = append(econcs, k.conc)
			}
		}
		slices.Sort(econcs)
		p("## Through Envoy\n\n")
		p("Signed 1 KiB GitHub deliveries over HTTP/1.1 keep-alive connections to one Envoy (one worker) on loopback: the same route asking hookguard, asking the floor, and without ext_authz, in the same run. Envoy buffers the body and makes the gRPC call in every ext_authz case.\n\n")
		p("| in flight | route | req/s | p50 µs | p99 µs | Envoy CPU µs/req | errors |\n|---|---|---|---|---|---|---|\n")
		for _, conc := range econcs {
			for _, v := range []string{"envoy+hookguard", "envoy+baseline", "envoy+floor", "envoy+no_ext_authz"} {
				ms := e[key{v, 1024, conc}]
				if len(ms) == 0 {
					continue
				}
				errs := 0
				for _, m := range ms {
					errs += m.Errors
				}
				p("| %d | %s | %.0f | %.0f | %.0f | %.1f | %d |\n", conc, strings.TrimPrefix(v, "envoy+"), stat(ms, rps), stat(ms, func(m Measurement) float64 { return m.P50us }), stat(ms, p99), stat(ms, cpuus), errs)
			}
		}
		p("\n| in flight | hookguard ÷ floor | hookguard ÷ no ext_authz | floor ÷ no ext_authz |")
		if baseline {
			p(" baseline ÷ floor |\n|---|---|---|---|---|\n")
		} else {
			p("\n|---|---|---|---|\n")
		}
		for _, conc := range econcs {
			h, f, n := e[key{"envoy+hookguard", 1024, conc}], e[key{"envoy+floor", 1024, conc}], e[key{"envoy+no_ext_authz", 1024, conc}]
			hf := rpsRatio(h, f)
			p("| %d | %s | %s | %s |", conc, hf, rpsRatio(h, n), rpsRatio(f, n))
			if baseline {
				p(" %s |", rpsRatio(e[key{"envoy+baseline", 1024, conc}], f))
			}
			p("\n")
			targets = append(targets, fmt.Sprintf("| Envoy, %d in flight: req/s ≥ 0.95× Envoy calling the floor | %s | %s |", conc, hf, met(hf.med >= 0.95)))
		}
		p("\n")
	}

	if st := r.Stores; st != nil {
		p("## Memory\n\n")
		p("Live heap of the in-memory stores, each filled in a process of its own (authz/internal/storebench).\n\n")
		p("| store | entries | heap MiB | bytes per entry |\n|---|---|---|---|\n")
		ch := &chart.Line{Title: "Replay store heap against remembered deliveries", XLabel: "remembered deliveries", YLabel: "heap MiB"}
		s := chart.Series{Name: "replay store"}
		var perNonce float64
		if pts, ok := st["nonces"].([]any); ok {
			for _, pt := range pts {
				pm := pt.(map[string]any)
				n, heap, per := pm["entries"].(float64), pm["heap_bytes"].(float64), pm["bytes_per_entry"].(float64)
				p("| replay | %.0f | %.1f | %.0f |\n", n, heap/(1<<20), per)
				s.X, s.Y = append(s.X, n), append(s.Y, heap/(1<<20))
				ch.XTicks = append(ch.XTicks, n)
				perNonce = per
			}
		}
		if pm, ok := st["ratelimit_keys"].(map[string]any); ok {
			p("| rate limiter, per-source buckets | %.0f | %.1f | %.0f |\n", pm["entries"], pm["heap_bytes"].(float64)/(1<<20), pm["bytes_per_entry"])
		}
		p("\n")
		if loads, ok := st["loads"].([]any); ok {
			p("Remembering new deliveries as fast as possible, GOMAXPROCS goroutines:\n\n| GOMAXPROCS | deliveries held | remembered/s | GC share of CPU |\n|---|---|---|---|\n")
			for _, l := range loads {
				lm := l.(map[string]any)
				p("| %.0f | %.0f | %.0f | %.1f%% |\n", lm["gomaxprocs"], lm["prefill"], lm["ops_per_second"], 100*lm["gc_cpu_share"].(float64))
			}
			p("\n")
		}
		if len(s.X) > 0 {
			ch.Series = []chart.Series{s}
			if err := writeChart(filepath.Join(chartDir, "memory.svg"), ch); err != nil {
				return err
			}
			p("![%s](%s)\n\n", ch.Title, filepath.ToSlash(filepath.Join(rel, "memory.svg")))
			targets = append(targets, fmt.Sprintf("| replay store: ≤ 160 B per remembered delivery at the largest fill | %.0f B | %s |", perNonce, met(perNonce <= 160)))
		}
		if ratio, ok := st["gc_share_ratio"].(float64); ok && ratio > 0 {
			targets = append(targets, fmt.Sprintf("| GC share of CPU, full replay store ÷ empty | %.2f× | %s |", ratio, met(ratio <= 1.2)))
		}
	}
	if len(r.Micro) > 0 {
		micro := map[string]Micro{}
		p("## Decision core and adapter\n\n")
		p("Go benchmarks of one check in process (`make bench-micro` runs them all). CPU time per operation is the process's; on a busy machine the wall time per operation is longer, and both are higher than on an idle one.\n\n")
		p("| benchmark | CPU ns/op | ns/op | B/op | allocs/op |\n|---|---|---|---|---|\n")
		for _, m := range r.Micro {
			micro[m.Name] = m
			p("| %s | %.0f | %.0f | %.0f | %.0f |\n", m.Name, m.CPUNsPerOp, m.NsPerOp, m.BytesPerOp, m.AllocsPerOp)
		}
		p("\n")
		allow, okA := micro["BenchmarkCheck/github-allow-1KiB"]
		forged, okF := micro["BenchmarkCheck/github-forged-1KiB"]
		mac, okH := micro["BenchmarkHMAC1KiB"]
		if okA && okH {
			over := allow.CPUNsPerOp - mac.CPUNsPerOp
			targets = append(targets, fmt.Sprintf("| decision core, 1 KiB GitHub delivery: ≤ 1.5 µs plus the HMAC | %.2f µs plus the HMAC (%.2f µs) | %s |", over/1e3, mac.CPUNsPerOp/1e3, met(over <= 1500)))
			targets = append(targets, fmt.Sprintf("| decision core: ≤ 4 allocations per allowed request | %.0f | %s |", allow.AllocsPerOp, met(allow.AllocsPerOp <= 4)))
		}
		if okA && okF {
			targets = append(targets, fmt.Sprintf("| decision core: a denial no dearer than an allow | %.2f µs and %.0f allocations against %.2f µs and %.0f | %s |",
				forged.CPUNsPerOp/1e3, forged.AllocsPerOp, allow.CPUNsPerOp/1e3, allow.AllocsPerOp, met(forged.CPUNsPerOp <= allow.CPUNsPerOp && forged.AllocsPerOp <= allow.AllocsPerOp)))
		}
		wa, ok1 := micro["BenchmarkServerCheck/wire/allow-1KiB"]
		wf, ok2 := micro["BenchmarkServerCheck/wire/forged-1KiB"]
		if ok1 && ok2 {
			targets = append(targets, fmt.Sprintf("| whole check in process: a denial no dearer than an allow | %.2f µs and %.0f allocations against %.2f µs and %.0f | %s |",
				wf.CPUNsPerOp/1e3, wf.AllocsPerOp, wa.CPUNsPerOp/1e3, wa.AllocsPerOp, met(wf.CPUNsPerOp <= wa.CPUNsPerOp && wf.AllocsPerOp <= wa.AllocsPerOp)))
		}
	}
	if len(targets) > 0 {
		p("## Targets\n\n| target | measured | |\n|---|---|---|\n%s\n", strings.Join(targets, "\n"))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func writeChart(path string, c *chart.Line) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.WriteSVG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
