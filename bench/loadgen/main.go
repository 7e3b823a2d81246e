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
	baseline                            string
	out, json, charts, profile          string
	sizes, conc, envoyConc              []int
	dur, warm, slice                    time.Duration
	max                                 int
	bad                                 float64
	nonces, keys                        int
	serveArgs                           []string
	micro                               string
}

func main() {
	var o options
	flag.StringVar(&o.hookguard, "hookguard", "bin/hookguard", "hookguard binary")
	flag.StringVar(&o.floor, "floor", "bin/floor", "floor binary (bench/floor)")
	flag.StringVar(&o.baseline, "baseline", "", "another hookguard binary (an earlier build) measured in the same turns, as \"baseline\"")
	flag.StringVar(&o.envoy, "envoy", ".tools/envoy/bin/envoy", "Envoy binary; empty skips the Envoy runs")
	flag.StringVar(&o.storebench, "storebench", "bin/storebench", "store memory binary (authz/internal/storebench); empty skips it")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "report to write; empty writes none")
	flag.StringVar(&o.json, "json", "", "also write the results as JSON here")
	flag.StringVar(&o.charts, "charts", "bench/charts", "directory of the report's SVG charts")
	flag.StringVar(&o.profile, "profile", "", "directory to save hookguard's CPU and allocation profiles of one run (1 KiB, 16 in flight)")
	sizes := flag.String("sizes", "1024,65536", "body sizes in bytes")
	conc := flag.String("concurrency", "1,16,64", "requests in flight")
	envoyConc := flag.String("envoy-concurrency", "16,64", "requests in flight through Envoy (1 KiB bodies)")
	flag.DurationVar(&o.dur, "duration", 4*time.Second, "measured time of each server in each case")
	flag.DurationVar(&o.slice, "slice", 500*time.Millisecond, "the servers of a case take turns of this long")
	flag.DurationVar(&o.warm, "warmup", 500*time.Millisecond, "unmeasured time of each server before each case")
	flag.IntVar(&o.max, "max", 2_000_000, "most requests to one server in one case")
	flag.Float64Var(&o.bad, "bad", 0, "share of requests with a bad signature")
	flag.IntVar(&o.nonces, "nonces", 1_000_000, "remembered deliveries for the memory figures")
	flag.IntVar(&o.keys, "keys", 1_000_000, "distinct rate-limit sources for the memory figures")
	serveArgs := flag.String("serve-args", "", "extra `hookguard serve` flags, space separated")
	flag.StringVar(&o.micro, "micro", "200000x", "-benchtime of the decision core's Go benchmarks (go test, in the repository); empty skips them")
	flag.Parse()
	var err error
	if o.sizes, err = ints(*sizes); err == nil {
		if o.conc, err = ints(*conc); err == nil {
			o.envoyConc, err = ints(*envoyConc)
		}
	}
	if err != nil || o.bad < 0 || o.bad > 1 || o.dur <= 0 || o.slice <= 0 || o.max <= 0 {
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
	Micro   []Micro        `json:"micro,omitempty"`
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
	// Rounds are the requests/s of each turn, paired with the other
	// servers' turns of the same case.
	Rounds []float64 `json:"rounds_rps"`
}

func measurement(t *target, size, conc int) Measurement {
	r := &t.total
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	m := Measurement{Server: t.name, BodyBytes: size, Concurrency: conc, Rounds: t.rounds,
		Requests: r.requests, Errors: r.errors, Wrong: r.wrong, Seconds: r.elapsed.Seconds(),
		RPS:   float64(r.requests) / r.elapsed.Seconds(),
		P50us: us(r.quantile(.5)), P90us: us(r.quantile(.9)), P99us: us(r.quantile(.99)), P999us: us(r.quantile(.999))}
	if t.pid != 0 && r.requests > 0 {
		m.CPUus = float64(t.cpu.Microseconds()) / float64(r.requests)
		if rss, err := peakRSS(t.pid); err == nil {
			m.PeakRSSMiB = float64(rss) / (1 << 20)
		}
	}
	return m
}

func benchmark(ctx context.Context, o options) (*Results, error) {
	res := &Results{Machine: machine(o.hookguard), Options: map[string]any{
		"duration_s": o.dur.Seconds(), "warmup_s": o.warm.Seconds(), "slice_s": o.slice.Seconds(), "bad_share": o.bad,
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

	floorPort, _ := freePort()
	floorAddr := "127.0.0.1:" + strconv.Itoa(floorPort)
	floor, err := startServer(ctx, "floor", dir, floorAddr, []string{o.floor, "-addr", floorAddr}, []string{"FLOOR_SECRET=" + secret})
	if err != nil {
		return nil, err
	}
	defer floor.stop()
	servers := []*server{floor}
	var adminPort int
	for _, hg := range []struct{ name, bin string }{{"hookguard", o.hookguard}, {"baseline", o.baseline}} {
		if hg.bin == "" {
			continue
		}
		grpcPort, _ := freePort()
		admin, _ := freePort()
		addr := "127.0.0.1:" + strconv.Itoa(grpcPort)
		args := []string{hg.bin, "serve", "--policies", policyDir, "--grpc-addr", addr,
			"--admin-addr", "127.0.0.1:" + strconv.Itoa(admin), "--watch=false"}
		if o.profile != "" && hg.name == "hookguard" {
			args = append(args, "--pprof")
			adminPort = admin
		}
		args = append(args, o.serveArgs...)
		s, err := startServer(ctx, hg.name, dir, addr, args, []string{"GITHUB_WEBHOOK_SECRET=" + secret})
		if err != nil {
			return nil, err
		}
		defer s.stop()
		servers = append(servers, s)
	}

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
			profile := o.profile != "" && size == o.sizes[0] && conc == 16
			ms, err := measureGRPC(ctx, servers, t, size, conc, o, profile, adminPort)
			if err != nil {
				return nil, fmt.Errorf("%d bytes, %d in flight: %w", size, conc, err)
			}
			for _, m := range ms {
				log.Printf("grpc %-9s %6d B %3d in flight: %8.0f req/s  p50 %6.0f µs  p99 %7.0f µs  cpu %5.1f µs/req  errors %d wrong %d",
					m.Server, size, conc, m.RPS, m.P50us, m.P99us, m.CPUus, m.Errors, m.Wrong)
			}
			res.GRPC = append(res.GRPC, ms...)
		}
	}

	if o.envoy != "" {
		ms, err := measureEnvoy(ctx, o, dir, servers)
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
	if o.micro != "" {
		log.Printf("micro benchmarks, -benchtime %s", o.micro)
		if res.Micro, err = runMicro(ctx, o.micro); err != nil {
			return nil, err
		}
	}
	res.Machine.LoadEnd = loadAvg()
	return res, nil
}

// measureGRPC measures the servers taking turns on one case, each over
// one connection; with profile, it saves the CPU profile of hookguard's
// admin port over the turns, and its allocations.
func measureGRPC(ctx context.Context, servers []*server, t *checkTemplate, size, conc int, o options, profile bool, adminPort int) ([]Measurement, error) {
	var targets []*target
	for _, s := range servers {
		conn, err := dialGRPC(s.addr)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		resetPeakRSS(s.pid())
		targets = append(targets, &target{name: s.name, pid: s.pid(), call: grpcCaller(ctx, conn, t, o.bad)})
	}
	var prof chan error
	if profile {
		// The profile spans the turns of every server, so it takes about
		// len(servers) times the measured time.
		prof = make(chan error, 1)
		go func() {
			time.Sleep(time.Duration(len(servers)) * o.warm)
			secs := int((time.Duration(len(servers))*o.dur + time.Second - 1) / time.Second)
			prof <- saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", adminPort, secs),
				filepath.Join(o.profile, "cpu.pprof"))
		}()
	}
	if err := interleave(ctx, targets, conc, o.dur, o.slice, o.warm, o.max); err != nil {
		return nil, err
	}
	var out []Measurement
	for _, tg := range targets {
		out = append(out, measurement(tg, size, conc))
	}
	if prof != nil {
		if err := <-prof; err != nil {
			return out, err
		}
		if err := saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/allocs", adminPort), filepath.Join(o.profile, "allocs.pprof")); err != nil {
			return out, err
		}
	}
	return out, nil
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

// measureEnvoy posts signed 1 KiB deliveries through Envoy to the three
// routes, taking turns, at each concurrency.
func measureEnvoy(ctx context.Context, o options, dir string, servers []*server) ([]Measurement, error) {
	upPort, stopUp, err := startUpstream()
	if err != nil {
		return nil, err
	}
	defer stopUp()
	e, err := startEnvoy(ctx, o.envoy, dir, servers, upPort)
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
		var targets []*target
		var variants []string
		for _, s := range servers {
			variants = append(variants, s.name)
		}
		for _, v := range append(variants, noExtAuthz) {
			tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			url := fmt.Sprintf("http://127.0.0.1:%d/webhooks/github", e.listeners[v])
			targets = append(targets, &target{name: "envoy+" + v, pid: e.cmd.Process.Pid, call: httpCaller(ctx, client, url, d)})
		}
		if err := interleave(ctx, targets, conc, o.dur, o.slice, o.warm, o.max); err != nil {
			return nil, fmt.Errorf("envoy: %w", err)
		}
		for _, tg := range targets {
			m := measurement(tg, 1024, conc)
			log.Printf("%-18s %3d in flight: %8.0f req/s  p50 %6.0f µs  p99 %7.0f µs  envoy cpu %5.1f µs/req  errors %d",
				m.Server, conc, m.RPS, m.P50us, m.P99us, m.CPUus, m.Errors)
			out = append(out, m)
		}
	}
	return out, nil
}
