//go:build soak

package daemon

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookguard/hookguard/authz/internal/webhooktest"
	"github.com/hookguard/hookguard/authz/verify"
)

// The soak test runs a bounded mixed load through the real gRPC server
// (Run on loopback, the policy watched and reloaded meanwhile) and checks
// that every decision was the expected one and that heap, goroutines and
// file descriptors came back: to the warmed-up level while serving, and
// to the level before Run once it stopped. `make soak` runs it; it is
// not part of `make test`.
//
// HOOKGUARD_SOAK_TIME (default 60s) and HOOKGUARD_SOAK_REQUESTS (default
// 200000) bound it; it stops at whichever comes first.

// Tolerances of the comparisons with the baselines.
const (
	soakGoroutineSlack = 3       // runtime and gRPC housekeeping
	soakFDSlack        = 2       // a connection closing, the watcher
	soakHeapSlack      = 8 << 20 // allocator and GC noise
	// soakBytesPerEntry bounds what one delivery remembered by the
	// replay store may hold while serving.
	soakBytesPerEntry = 1024
	// soakMaxRecv is the receive limit of the soak's daemon, small so
	// that oversized requests are cheap to send.
	soakMaxRecv = 256 << 10
)

// soakKind is one kind of request of the mix and what it must get.
type soakKind int

const (
	kindGood       soakKind = iota // a fresh signed delivery: ok
	kindReplay                     // a delivery allowed before, again: replayed
	kindForged                     // a body its signature does not cover: signature_invalid
	kindHandshake                  // a provider's endpoint verification: handshake
	kindNoEndpoint                 // an unknown path: no_endpoint
	kindCanonical                  // a dot segment: non_canonical_request
	kindOversized                  // over the gRPC limit: ResourceExhausted
	numKinds
)

var kindNames = [numKinds]string{"good", "replayed", "forged", "handshake", "no_endpoint", "non_canonical", "oversized"}

// want is the reason a kind must get; oversized gets a transport error.
var want = [numKinds]string{"ok", "replayed", "signature_invalid", "handshake", "no_endpoint", "non_canonical_request", ""}

// snapshot is the process's resources at one moment, after GC.
type snapshot struct {
	heap       uint64
	goroutines int
	fds        int
}

func takeSnapshot() snapshot {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return snapshot{heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine(), fds: len(fds)}
}

func (s snapshot) String() string {
	return fmt.Sprintf("heap %.1f MiB, %d goroutines, %d fds", float64(s.heap)/(1<<20), s.goroutines, s.fds)
}

// settle waits for goroutines to come down to at most limit, as closed
// streams and connections wind down, and returns the snapshot.
func settle(limit int) snapshot {
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > limit && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return takeSnapshot()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func TestSoak(t *testing.T) {
	duration, err := time.ParseDuration(envOr("HOOKGUARD_SOAK_TIME", "60s"))
	if err != nil {
		t.Fatal(err)
	}
	maxRequests, err := strconv.Atoi(envOr("HOOKGUARD_SOAK_REQUESTS", "200000"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := webhooktest.WritePolicy(dir); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot()

	logs := &countingLog{}
	r := startWith(t, Config{PolicyDir: dir, Secrets: webhooktest.NewSecrets(), Log: zerolog.New(logs),
		MaxRecvBytes: soakMaxRecv, ReloadDebounce: 50 * time.Millisecond})
	client := authv3.NewAuthorizationClient(r.conn)
	endpoints := webhooktest.Endpoints()

	// Warm up: every endpoint once, so pools, caches and lazily built
	// state exist before the baseline.
	for _, e := range endpoints {
		d, _ := e.Delivery(time.Now(), "warm-"+e.Name)
		if _, err := client.Check(context.Background(), d.Request); err != nil {
			t.Fatal(err)
		}
	}
	warm := settle(0)
	warmEntries := replayEntries(t, r.adminAddr)

	// Policy reloads: a file with one more endpoint, rewritten every
	// second with another path, which the load never uses.
	stopReloads := make(chan struct{})
	var reloadsDone sync.WaitGroup
	reloadsDone.Add(1)
	go func() {
		defer reloadsDone.Done()
		for i := 0; ; i++ {
			select {
			case <-stopReloads:
				return
			case <-time.After(time.Second):
			}
			doc := fmt.Sprintf("endpoints:\n  - name: extra\n    match: {path: /extra/%d}\n    verify: {github: {secrets: [{env: HG_GITHUB_SECRET}]}}\n", i)
			os.WriteFile(filepath.Join(dir, "extra.yaml"), []byte(doc), 0o600)
		}
	}()

	var (
		sent       atomic.Int64
		counts     [numKinds]atomic.Int64
		mismatches atomic.Int64
		mu         sync.Mutex
		examples   []string
	)
	deadline := time.Now().Add(duration)
	oversized := make([]byte, soakMaxRecv+1)
	var wg sync.WaitGroup
	const workers = 2
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var last *authv3.CheckRequest // the last allowed delivery, for a replay
			for n := 0; time.Now().Before(deadline) && sent.Add(1) <= int64(maxRequests); n++ {
				kind := pick(rng)
				if kind == kindReplay && last == nil {
					kind = kindGood
				}
				e := endpoints[rng.IntN(len(endpoints))]
				var req *authv3.CheckRequest
				switch kind {
				case kindGood, kindForged, kindOversized, kindNoEndpoint, kindCanonical:
					d, err := e.Delivery(time.Now(), fmt.Sprintf("soak-%d-%d", w, n))
					if err != nil {
						panic(err)
					}
					req = d.Request
					if kind == kindForged {
						req = d.Forged()
					}
					h := req.GetAttributes().GetRequest().GetHttp()
					switch kind {
					case kindOversized:
						h.RawBody = oversized
					case kindNoEndpoint:
						h.Path = "/nowhere/" + e.Name
					case kindCanonical:
						h.Path = "/webhooks/x/../" + e.Name
					}
				case kindReplay:
					req = last
				case kindHandshake:
					var d *webhooktest.Delivery
					for ok := false; !ok; e = endpoints[rng.IntN(len(endpoints))] {
						d, ok = e.Handshake(time.Now())
					}
					req = d.Request
				}
				got := decide(client, req)
				if scheme, _ := verify.Lookup(e.Scheme); kind == kindGood && scheme.Replayable {
					// A credential signs nothing that tells deliveries
					// apart: there is nothing to replay.
					last = req
				}
				counts[kind].Add(1)
				if got != want[kind] {
					mismatches.Add(1)
					mu.Lock()
					if len(examples) < 10 {
						examples = append(examples, fmt.Sprintf("%s to %s: got %q, want %q", kindNames[kind], e.Name, got, want[kind]))
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopReloads)
	reloadsDone.Wait()
	time.Sleep(300 * time.Millisecond) // the last reload lands

	total := int64(0)
	var mix []string
	for k := range numKinds {
		total += counts[k].Load()
		mix = append(mix, fmt.Sprintf("%s %d", kindNames[k], counts[k].Load()))
	}
	t.Logf("%d checks in %v (%.0f/s): %s", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), strings.Join(mix, ", "))
	t.Logf("policy reloads: %d, refused: %d", logs.count(`"message":"policy reloaded"`), logs.count(`"message":"policy refused`))
	if m := mismatches.Load(); m > 0 {
		t.Errorf("%d unexpected decisions, e.g.:\n%s", m, strings.Join(examples, "\n"))
	}
	if logs.count(`"message":"policy reloaded"`) == 0 || logs.count(`"message":"policy refused`) > 0 {
		t.Error("the policy was not reloaded cleanly during the load")
	}

	// While serving: back to the warmed-up level, but for the deliveries
	// the replay store now remembers, as it must.
	after := settle(warm.goroutines + soakGoroutineSlack)
	entries := replayEntries(t, r.adminAddr)
	allowance := uint64(entries-warmEntries)*soakBytesPerEntry + soakHeapSlack
	t.Logf("serving: warm %v; after the load %v; replay store %d entries (%d before)", warm, after, entries, warmEntries)
	if entries > warmEntries {
		t.Logf("heap growth per remembered delivery: %d bytes", int64(after.heap-warm.heap)/int64(entries-warmEntries))
	}
	if after.goroutines > warm.goroutines+soakGoroutineSlack || after.fds > warm.fds+soakFDSlack || after.heap > warm.heap+allowance {
		t.Errorf("serving: resources did not come back: warm %v, after %v (heap allowance %.1f MiB)", warm, after, float64(allowance)/(1<<20))
	}

	// Stopped: back to the level before Run, with no exemption: the replay
	// store runs no goroutine, so nothing may outlive Run.
	r.stop(t)
	r.conn.Close()
	stopped := settle(before.goroutines + soakGoroutineSlack)
	t.Logf("stopped: before Run %v; after Run returned %v", before, stopped)
	if stopped.goroutines > before.goroutines || stopped.fds > before.fds+soakFDSlack || stopped.heap > before.heap+soakHeapSlack {
		t.Errorf("stopped: resources did not come back to their level before Run: before %v, after %v\n%s", before, stopped, goroutineDump())
	}
}

// pick draws a kind: mostly good deliveries, and every other kind often.
func pick(rng *rand.Rand) soakKind {
	switch n := rng.IntN(100); {
	case n < 40:
		return kindGood
	case n < 55:
		return kindReplay
	case n < 75:
		return kindForged
	case n < 82:
		return kindHandshake
	case n < 90:
		return kindNoEndpoint
	case n < 98:
		return kindCanonical
	default:
		return kindOversized
	}
}

// decide sends req and returns the reason, "" for a transport refusal of
// an oversized message, or the error.
func decide(client authv3.AuthorizationClient, req *authv3.CheckRequest) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.Check(ctx, req, grpc.MaxCallSendMsgSize(4*soakMaxRecv))
	if status.Code(err) == codes.ResourceExhausted {
		return ""
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return resp.GetDynamicMetadata().GetFields()["reason"].GetStringValue()
}

// replayEntries reads hookguard_replay_cache_entries from /metrics.
func replayEntries(t *testing.T, admin string) int {
	t.Helper()
	// Without keep-alive: an idle connection would count as goroutines
	// and a file descriptor.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "hookguard_replay_cache_entries "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	t.Fatal("no hookguard_replay_cache_entries in /metrics")
	return 0
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// countingLog keeps the log's lines of interest, not every decision, so
// the log does not grow the heap the test measures.
type countingLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *countingLog) Write(p []byte) (int, error) {
	if !strings.Contains(string(p), `"message":"decision"`) {
		l.mu.Lock()
		l.lines = append(l.lines, string(p))
		l.mu.Unlock()
	}
	return len(p), nil
}

func (l *countingLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}
