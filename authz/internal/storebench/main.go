// Command storebench measures the memory of hookguard's in-memory stores,
// each in a process of its own so that nothing else is on the heap: the
// replay store after remembering up to -nonces distinct deliveries, the
// rate limiter after -keys distinct sources, and the garbage collector's
// share of the CPU while a store takes new entries, full against empty.
// It prints one JSON object; bench/loadgen reads it for BENCHMARKS.md.
//
//	go run ./authz/internal/storebench -nonces 1000000 -keys 1000000
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"log"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/replay"
)

// Point is the live heap after remembering Entries deliveries.
type Point struct {
	Entries   int     `json:"entries"`
	HeapBytes uint64  `json:"heap_bytes"`
	PerEntry  float64 `json:"bytes_per_entry"`
}

// Load is a run of Remember calls from Procs goroutines (GOMAXPROCS
// Procs) into a store holding Prefill deliveries, each with the garbage a
// check makes; GCShare is the collector's share of the CPU meanwhile.
type Load struct {
	Procs    int     `json:"gomaxprocs"`
	Prefill  int     `json:"prefill"`
	OpsPerS  float64 `json:"ops_per_second"`
	GCShare  float64 `json:"gc_cpu_share"`
	Duration float64 `json:"seconds"`
}

// Result is what storebench prints.
type Result struct {
	Nonces         []Point `json:"nonces"`
	RateLimitKeys  Point   `json:"ratelimit_keys"`
	Loads          []Load  `json:"loads"`
	GCShareFull    float64 `json:"gc_share_full"`
	GCShareEmpty   float64 `json:"gc_share_empty"`
	GCShareRatio   float64 `json:"gc_share_ratio"`
	NumCPU         int     `json:"num_cpu"`
	NonceStoreType string  `json:"nonce_store"`
}

func main() {
	nonces := flag.Int("nonces", 1_000_000, "deliveries to remember")
	keys := flag.Int("keys", 1_000_000, "distinct rate-limit sources")
	loadFor := flag.Duration("load", 3*time.Second, "duration of each load run")
	garbage := flag.Int("garbage", 2048, "bytes allocated with each delivery remembered under load, as a check allocates them, so that the collector runs")
	flag.Parse()
	res := Result{NumCPU: runtime.NumCPU(), NonceStoreType: "replay.Memory"}
	res.Nonces = nonceMemory(*nonces)
	res.RateLimitKeys = limiterMemory(*keys)

	full := replay.NewMemory(replay.MemoryConfig{Capacity: *nonces})
	fill(full, 0, *nonces)
	empty := replay.NewMemory(replay.MemoryConfig{Capacity: *nonces})
	for _, procs := range []int{1, 2, runtime.NumCPU()} {
		res.Loads = append(res.Loads, load(full, *nonces, procs, *loadFor, *garbage))
	}
	res.Loads = append(res.Loads, load(empty, 0, runtime.NumCPU(), *loadFor, *garbage))
	res.GCShareFull = res.Loads[len(res.Loads)-2].GCShare
	res.GCShareEmpty = res.Loads[len(res.Loads)-1].GCShare
	if res.GCShareEmpty > 0 {
		res.GCShareRatio = res.GCShareFull / res.GCShareEmpty
	}
	runtime.KeepAlive(full)
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
}

func key(i uint64) authz.NonceKey {
	var k authz.NonceKey
	binary.LittleEndian.PutUint64(k[:], i)
	binary.LittleEndian.PutUint64(k[8:], i*0x9e3779b97f4a7c15)
	return k
}

func fill(m *replay.Memory, from, to int) {
	ctx := context.Background()
	c := authz.Nonces{Endpoint: "ep", Keys: make([]authz.NonceKey, 1), TTL: 10 * time.Minute}
	for i := from; i < to; i++ {
		c.Keys[0] = key(uint64(i))
		m.Remember(ctx, c)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// nonceMemory fills one store in steps and reads the live heap at each.
func nonceMemory(n int) []Point {
	base := liveHeap()
	m := replay.NewMemory(replay.MemoryConfig{Capacity: n})
	var pts []Point
	done := 0
	for _, step := range []int{n / 8, n / 4, n / 2, n} {
		fill(m, done, step)
		done = step
		heap := liveHeap() - base
		pts = append(pts, Point{Entries: step, HeapBytes: heap, PerEntry: float64(heap) / float64(step)})
	}
	runtime.KeepAlive(m)
	return pts
}

// limiterMemory takes a token for n distinct sources at one endpoint that
// keeps them all.
func limiterMemory(n int) Point {
	base := liveHeap()
	l := ratelimit.NewMemory()
	ctx := context.Background()
	limit := authz.Limit{Rate: 1, Burst: 10, MaxKeys: n}
	now := time.Now()
	for i := range n {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], 0x20010db8_00000000|uint64(i))
		src, _ := netip.AddrFrom16(a).Prefix(64)
		l.Take(ctx, authz.LimitKey{Endpoint: "e", Scope: authz.LimitSource, Source: src}, limit, 1, now)
	}
	heap := liveHeap() - base
	runtime.KeepAlive(l)
	return Point{Entries: n, HeapBytes: heap, PerEntry: float64(heap) / float64(n)}
}

var gcSamples = []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}

// sink keeps the garbage of load from being optimised away.
var sink atomic.Pointer[[]byte]

// load remembers new deliveries into m from procs goroutines for d,
// allocating garbage bytes with each as a check would.
func load(m *replay.Memory, prefill, procs int, d time.Duration, garbage int) Load {
	prev := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(prev)
	debug.FreeOSMemory()
	metrics.Read(gcSamples)
	gc0, total0 := gcSamples[0].Value.Float64(), gcSamples[1].Value.Float64()
	var next atomic.Uint64
	next.Store(uint64(prefill) + 1<<40)
	var ops atomic.Uint64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			c := authz.Nonces{Endpoint: "ep", Keys: make([]authz.NonceKey, 1), TTL: 10 * time.Minute}
			n := uint64(0)
			for time.Now().Before(stop) {
				for range 256 {
					c.Keys[0] = key(next.Add(1))
					m.Remember(ctx, c)
					b := make([]byte, garbage)
					sink.Store(&b)
				}
				n += 256
			}
			ops.Add(n)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	metrics.Read(gcSamples)
	gc, total := gcSamples[0].Value.Float64()-gc0, gcSamples[1].Value.Float64()-total0
	share := 0.0
	if total > 0 {
		share = gc / total
	}
	return Load{Procs: procs, Prefill: prefill, OpsPerS: float64(ops.Load()) / elapsed, GCShare: share, Duration: elapsed}
}
