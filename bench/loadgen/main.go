// Command loadgen is hookguard's benchmark. On loopback only, bounded in
// time and count, it measures in one run:
//
//   - gRPC: `hookguard serve` against the floor (bench/floor, a minimal
//     ext_authz server that only checks the HMAC), both separate processes,
//     with realistic CheckRequests (Envoy's header set, raw_body, a fresh
//     GitHub signature per request so that replay protection does real
//     work) of each body size at each concurrency: requests/s, latency
//     quantiles, server CPU per request, peak RSS;
//   - through Envoy: signed deliveries over HTTP/1.1 to an Envoy route that
//     asks hookguard, the same route asking the floor, and the same route
//     without ext_authz;
//   - memory: the stores' heap per entry (authz/internal/storebench);
//
// and writes BENCHMARKS.md with tables and SVG charts.
//
//	loadgen -hookguard bin/hookguard -floor bin/floor -envoy .tools/envoy/bin/envoy -out BENCHMARKS.md
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// secret is the GitHub webhook secret of the benchmark policy and the
// floor; benchmark traffic only.
const secret = "loadgen-benchmark-secret"

// benchPolicy is one GitHub endpoint as policies/github.yaml has it.
const benchPolicy = `endpoints:
  - name: github
    match: {path_prefix: /webhooks/github, methods: [POST]}
    verify:
      github:
        secrets: [{env: GITHUB_WEBHOOK_SECRET}]
    replay: {ttl: 10m}
    on_allow:
      set_headers: {x-webhook-source: github}
      remove_headers: [x-hub-signature-256, x-hub-signature]
`

type options struct {
	hookguard, floor, envoy, storebench string
	out, json, charts, profile          string
	sizes, conc, envoyConc              []int
	dur, warm                           time.Duration
	max, reps                           int
	bad                                 float64
	nonces, keys                        int
	serveArgs                           []string
}

func main() {
	var o options
	flag.StringVar(&o.hookguard, "hookguard", "bin/hookguard", "hookguard binary")
	flag.StringVar(&o.floor, "floor", "bin/floor", "floor binary (bench/floor)")
	flag.StringVar(&o.envoy, "envoy", ".tools/envoy/bin/envoy", "Envoy binary; empty skips the Envoy runs")
	flag.StringVar(&o.storebench, "storebench", "bin/storebench", "store memory binary (authz/internal/storebench); empty skips it")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "report to write; empty writes none")
	flag.StringVar(&o.json, "json", "", "also write the results as JSON here")
	flag.StringVar(&o.charts, "charts", "bench/charts", "directory of the report's SVG charts")
	flag.StringVar(&o.profile, "profile", "", "directory to save hookguard's CPU and allocation profiles of one run (1 KiB, 16 in flight)")
	sizes := flag.String("sizes", "1024,65536", "body sizes in bytes")
	conc := flag.String("concurrency", "1,16,64", "requests in flight")
	envoyConc := flag.String("envoy-concurrency", "16,64", "requests in flight through Envoy (1 KiB bodies)")
	flag.DurationVar(&o.dur, "duration", 4*time.Second, "measured time of each run")
	flag.DurationVar(&o.warm, "warmup", time.Second, "unmeasured time before each run")
	flag.IntVar(&o.max, "max", 2_000_000, "most requests of one run")
	flag.IntVar(&o.reps, "reps", 1, "runs of each case, hookguard and the floor alternating")
	flag.Float64Var(&o.bad, "bad", 0, "share of requests with a bad signature")
	flag.IntVar(&o.nonces, "nonces", 1_000_000, "remembered deliveries for the memory figures")
	flag.IntVar(&o.keys, "keys", 1_000_000, "distinct rate-limit sources for the memory figures")
	serveArgs := flag.String("serve-args", "", "extra `hookguard serve` flags, space separated")
	flag.Parse()
	var err error
	if o.sizes, err = ints(*sizes); err == nil {
		if o.conc, err = ints(*conc); err == nil {
			o.envoyConc, err = ints(*envoyConc)
		}
	}
	if err != nil || o.bad < 0 || o.bad > 1 || o.dur <= 0 || o.reps < 1 {
		log.Fatalf("bad flags: %v", err)
	}
	o.serveArgs = strings.Fields(*serveArgs)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := benchmark(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	if o.json != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.json, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if o.out != "" {
		if err := writeReport(o.out, o.charts, res); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s", o.out)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Results is everything one run of loadgen measured.
type Results struct {
	Machine Machine        `json:"machine"`
	GRPC    []Measurement  `json:"grpc"`
	Envoy   []Measurement  `json:"envoy"`
	Stores  map[string]any `json:"stores,omitempty"`
	Options map[string]any `json:"options"`
}

// Machine describes where the figures come from.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
	Hookguard string `json:"hookguard"`
	Date      string `json:"date"`
}

// Measurement is one load run against one server.
type Measurement struct {
	Server      string  `json:"server"`
	BodyBytes   int     `json:"body_bytes"`
	Concurrency int     `json:"concurrency"`
	Rep         int     `json:"rep"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Wrong       int     `json:"wrong"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"rps"`
	P50us       float64 `json:"p50_us"`
	P90us       float64 `json:"p90_us"`
	P99us       float64 `json:"p99_us"`
	P999us      float64 `json:"p999_us"`
	CPUus       float64 `json:"server_cpu_us_per_request"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
}

func measurement(server string, size, conc, rep int, r *run) Measurement {
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return Measurement{Server: server, BodyBytes: size, Concurrency: conc, Rep: rep,
		Requests: r.requests, Errors: r.errors, Wrong: r.wrong, Seconds: r.elapsed.Seconds(),
		RPS:   float64(r.requests) / r.elapsed.Seconds(),
		P50us: us(r.quantile(.5)), P90us: us(r.quantile(.9)), P99us: us(r.quantile(.99)), P999us: us(r.quantile(.999))}
}

func benchmark(ctx context.Context, o options) (*Results, error) {
	res := &Results{Machine: machine(o.hookguard), Options: map[string]any{
		"duration_s": o.dur.Seconds(), "warmup_s": o.warm.Seconds(), "reps": o.reps, "bad_share": o.bad,
		"sizes": o.sizes, "concurrency": o.conc, "envoy_concurrency": o.envoyConc, "serve_args": o.serveArgs,
	}}
	dir, err := os.MkdirTemp("", "hookguard-loadgen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	policyDir := filepath.Join(dir, "policies")
	os.MkdirAll(policyDir, 0o755)
	if err := os.WriteFile(filepath.Join(policyDir, "github.yaml"), []byte(benchPolicy), 0o644); err != nil {
		return nil, err
	}

	hgPort, _ := freePort()
	adminPort, _ := freePort()
	floorPort, _ := freePort()
	hgAddr, floorAddr := "127.0.0.1:"+strconv.Itoa(hgPort), "127.0.0.1:"+strconv.Itoa(floorPort)
	args := []string{o.hookguard, "serve", "--policies", policyDir, "--grpc-addr", hgAddr,
		"--admin-addr", "127.0.0.1:" + strconv.Itoa(adminPort), "--watch=false"}
	if o.profile != "" {
		args = append(args, "--pprof")
	}
	args = append(args, o.serveArgs...)
	hg, err := startServer(ctx, "hookguard", dir, hgAddr, args, []string{"GITHUB_WEBHOOK_SECRET=" + secret})
	if err != nil {
		return nil, err
	}
	defer hg.stop()
	floor, err := startServer(ctx, "floor", dir, floorAddr, []string{o.floor, "-addr", floorAddr}, []string{"FLOOR_SECRET=" + secret})
	if err != nil {
		return nil, err
	}
	defer floor.stop()

	servers := []*server{floor, hg}
	for _, size := range o.sizes {
		d, err := newDelivery(size, []byte(secret))
		if err != nil {
			return nil, err
		}
		t, err := newTemplate(d)
		if err != nil {
			return nil, err
		}
		for _, conc := range o.conc {
			for rep := range o.reps {
				order := servers
				if rep%2 == 1 {
					order = []*server{hg, floor}
				}
				for _, s := range order {
					profile := o.profile != "" && s == hg && size == o.sizes[0] && conc == 16 && rep == 0
					m, err := measureGRPC(ctx, s, t, size, conc, rep, o, profile, adminPort)
					if err != nil {
						return nil, fmt.Errorf("%s, %d bytes, %d in flight: %w", s.name, size, conc, err)
					}
					log.Printf("grpc %-9s %6d B %3d in flight: %8.0f req/s  p50 %6.0f µs  p99 %7.0f µs  cpu %5.1f µs/req  errors %d wrong %d",
						s.name, size, conc, m.RPS, m.P50us, m.P99us, m.CPUus, m.Errors, m.Wrong)
					res.GRPC = append(res.GRPC, m)
				}
			}
		}
	}

	if o.envoy != "" {
		ms, err := measureEnvoy(ctx, o, dir, hg, hgPort, floorPort)
		if err != nil {
			return nil, err
		}
		res.Envoy = ms
	}
	if o.storebench != "" {
		log.Printf("stores: %d nonces, %d rate-limit keys", o.nonces, o.keys)
		out, err := exec.CommandContext(ctx, o.storebench, "-nonces", strconv.Itoa(o.nonces), "-keys", strconv.Itoa(o.keys)).Output()
		if err != nil {
			return nil, fmt.Errorf("storebench: %w", err)
		}
		if err := json.Unmarshal(out, &res.Stores); err != nil {
			return nil, fmt.Errorf("storebench: %w", err)
		}
	}
	res.Machine.LoadEnd = loadAvg()
	return res, nil
}

func measureGRPC(ctx context.Context, s *server, t *checkTemplate, size, conc, rep int, o options, profile bool, adminPort int) (Measurement, error) {
	resetPeakRSS(s.pid())
	type cpuAt struct {
		t time.Duration
		e error
	}
	var cpu0 time.Duration
	// The CPU time is read when measuring starts, after the warm-up.
	startCPU := make(chan cpuAt, 1)
	go func() {
		time.Sleep(o.warm)
		c, err := cpuTime(s.pid())
		startCPU <- cpuAt{c, err}
	}()
	var prof chan error
	if profile {
		prof = make(chan error, 1)
		go func() {
			time.Sleep(o.warm)
			prof <- saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", adminPort, int(o.dur.Seconds())),
				filepath.Join(o.profile, "cpu.pprof"))
		}()
	}
	r, err := driveGRPC(ctx, s.addr, t, conc, o.dur, o.warm, o.max, o.bad)
	if err != nil {
		return Measurement{}, err
	}
	cpu1, err := cpuTime(s.pid())
	c0 := <-startCPU
	if err == nil {
		err = c0.e
	}
	cpu0 = c0.t
	if err != nil {
		return Measurement{}, err
	}
	m := measurement(s.name, size, conc, rep, r)
	m.CPUus = float64((cpu1 - cpu0).Microseconds()) / float64(r.requests)
	if rss, err := peakRSS(s.pid()); err == nil {
		m.PeakRSSMiB = float64(rss) / (1 << 20)
	}
	if prof != nil {
		if err := <-prof; err != nil {
			return m, err
		}
		if err := saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/allocs", adminPort), filepath.Join(o.profile, "allocs.pprof")); err != nil {
			return m, err
		}
	}
	return m, nil
}

func saveProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.ReadFrom(resp.Body)
	return err
}

// measureEnvoy runs signed 1 KiB deliveries through Envoy to the three
// routes, alternating, at each concurrency.
func measureEnvoy(ctx context.Context, o options, dir string, hg *server, hgPort, floorPort int) ([]Measurement, error) {
	upPort, stopUp, err := startUpstream()
	if err != nil {
		return nil, err
	}
	defer stopUp()
	e, err := startEnvoy(ctx, o.envoy, dir, hgPort, floorPort, upPort)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	d, err := newDelivery(1024, []byte(secret))
	if err != nil {
		return nil, err
	}
	var out []Measurement
	for _, conc := range o.envoyConc {
		for rep := range o.reps {
			variants := []string{"no_ext_authz", "floor", "hookguard"}
			if rep%2 == 1 {
				variants = []string{"hookguard", "floor", "no_ext_authz"}
			}
			for _, v := range variants {
				url := fmt.Sprintf("http://127.0.0.1:%d/webhooks/github", e.listeners[v])
				r, err := driveHTTP(ctx, url, d, conc, o.dur, o.warm, o.max)
				if err != nil {
					return nil, fmt.Errorf("envoy %s: %w", v, err)
				}
				m := measurement("envoy+"+v, 1024, conc, rep, r)
				log.Printf("envoy+%-12s %3d in flight: %8.0f req/s  p50 %6.0f µs  p99 %7.0f µs  errors %d",
					v, conc, m.RPS, m.P50us, m.P99us, m.Errors)
				out = append(out, m)
			}
		}
	}
	return out, nil
}
