package replay

import (
	"context"
	"encoding/binary"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// benchKey returns the i-th of a sequence of distinct keys, spread like the
// SHA-256 keys the authorizer makes.
func benchKey(i uint64) authz.NonceKey {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], i)
	return authz.NewNonceKey("bench", b[:])
}

// remember remembers one key in m for an hour.
func remember(m *Memory, k authz.NonceKey) bool {
	fresh, _ := m.Remember(context.Background(), authz.Nonces{Endpoint: "bench", Keys: []authz.NonceKey{k}, TTL: time.Hour})
	return fresh
}

// fill remembers n distinct keys, numbered from base.
func fill(m *Memory, base, n uint64) {
	for i := range n {
		remember(m, benchKey(base+i))
	}
}

// BenchmarkMemoryRemember measures remembering distinct deliveries in a full
// store, where every insert also evicts.
func BenchmarkMemoryRemember(b *testing.B) {
	m := NewMemory(MemoryConfig{Capacity: 1 << 16})
	fill(m, 1<<40, 1<<16)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		remember(m, benchKey(i))
		i++
	}
}

// BenchmarkMemoryRememberParallel measures distinct deliveries remembered
// from every P at once into a full store of a million, the case where one
// lock for the whole store would serialise them. Run it with -cpu 1,2,N.
func BenchmarkMemoryRememberParallel(b *testing.B) {
	const capacity = 1_000_000
	m := NewMemory(MemoryConfig{Capacity: capacity})
	fill(m, 1<<40, capacity)
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1) << 32
		for pb.Next() {
			remember(m, benchKey(i))
			i++
		}
	})
}

// BenchmarkMemoryBytesPerEntry reports the heap a store of a million holds,
// per delivery it holds, once a million distinct deliveries were
// remembered in it: a few shards fill, and evict, before the others. Run it
// with -benchtime 1x.
func BenchmarkMemoryBytesPerEntry(b *testing.B) {
	const n = 1_000_000
	var perEntry, held float64
	for b.Loop() {
		before := heapInUse()
		m := NewMemory(MemoryConfig{Capacity: n})
		fill(m, 0, n)
		after := heapInUse()
		if m.Len() > n || m.Len() < n*99/100 {
			b.Fatalf("Len = %d, want at most %d and nearly as many", m.Len(), n)
		}
		perEntry = float64(after-before) / float64(m.Len())
		held = 100 * float64(m.Len()) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perEntry, "B/entry")
	b.ReportMetric(held, "%held")
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// sink keeps the per-request garbage of BenchmarkMemoryGCShare from being
// optimised away.
var sink atomic.Pointer[[]byte]

// BenchmarkMemoryGCShare measures what the garbage collector costs while
// requests are served, with a full store of a million deliveries and with a
// nearly empty one (1,024). Each operation remembers a new delivery
// (evicting the oldest, in both stores) and allocates 2 KiB of garbage, as
// a request's decoding and logging do. Run it with -cpu 1,2,N, and compare
// the empty and full cases of one pacing.
//
// It reports gc%, the collector's share of CPU as the runtime estimates it
// (without its idle-time workers, which use CPU nothing else wanted); the
// runtime estimates from wall time, so on a busy host the figure is noisy.
// scanB/op is the memory the collector scanned per operation (what it had
// to scan per cycle × cycles / operations) and gcs/Mop the collections per
// million operations, neither of which depends on the host; cpu-ns/op is
// the CPU the process used per operation, from getrusage.
//
// Two pacings: gogc is the default (GOGC=100), where a larger live heap
// also makes collections rarer; memlimit turns GOGC off and sets a memory
// limit 64 MiB above the memory in use, as GOMEMLIMIT does in a container
// sized to its working set, so that collections are as frequent whatever
// the store holds and only their cost differs.
//
// Each case fills its store once, on its first run; a store that outlives
// its case (one whose goroutine keeps it) weighs on the cases after it, so
// run such a store's cases one per process.
func BenchmarkMemoryGCShare(b *testing.B) {
	for _, pacing := range []string{"gogc", "memlimit"} {
		for _, c := range []struct {
			name     string
			capacity int
		}{{"empty", 1024}, {"full", 1_000_000}} {
			var m *Memory
			b.Run(pacing+"/"+c.name, func(b *testing.B) {
				if m == nil {
					m = NewMemory(MemoryConfig{Capacity: c.capacity})
					fill(m, 1<<40, uint64(c.capacity))
				}
				runtime.GC()
				if pacing == "memlimit" {
					// Return what the fill freed, so that the headroom
					// is 64 MiB in both cases.
					debug.FreeOSMemory()
					defer debug.SetGCPercent(debug.SetGCPercent(-1))
					defer debug.SetMemoryLimit(debug.SetMemoryLimit(mappedBytes() + 64<<20))
				}
				var next atomic.Uint64
				b.ReportAllocs()
				b.ResetTimer()
				s0 := readGC()
				b.RunParallel(func(pb *testing.PB) {
					i := next.Add(1) << 32
					for pb.Next() {
						garbage := make([]byte, 2048)
						sink.Store(&garbage)
						remember(m, benchKey(i))
						i++
					}
				})
				// The runtime adds up the collector's CPU time when a
				// cycle ends: end one now, so that the time since the
				// last is counted too.
				runtime.GC()
				s1 := readGC()
				b.StopTimer()
				ops := float64(b.N)
				b.ReportMetric(100*(s1.gc-s0.gc)/(s1.busy-s0.busy), "gc%")
				b.ReportMetric((s1.cycles-s0.cycles)*s1.scan/ops, "scanB/op")
				b.ReportMetric((s1.cpu-s0.cpu)/ops, "cpu-ns/op")
				b.ReportMetric(1e6*(s1.cycles-s0.cycles)/ops, "gcs/Mop")
			})
			m = nil
		}
	}
}

// gcSample is what readGC reads.
type gcSample struct {
	gc, busy float64 // seconds
	cycles   float64
	scan     float64 // bytes the last cycle had to scan
	cpu      float64 // nanoseconds of process CPU time
}

// readGC returns the CPU time the runtime estimates the collector used and
// all CPU time not idle, both without the collector's idle-time workers,
// the collections so far, what the last one scanned, and the process's CPU
// time. The runtime updates its estimates when a collection ends.
func readGC() gcSample {
	s := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/scan/total:bytes"},
	}
	metrics.Read(s)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	gc, idleMark := s[0].Value.Float64(), s[1].Value.Float64()
	return gcSample{
		gc:     gc - idleMark,
		busy:   s[2].Value.Float64() - s[3].Value.Float64() - idleMark,
		cycles: float64(s[4].Value.Uint64()),
		scan:   float64(s[5].Value.Uint64()),
		cpu:    float64(ru.Utime.Nano() + ru.Stime.Nano()),
	}
}

// mappedBytes returns the memory the runtime holds from the OS, as the
// memory limit counts it.
func mappedBytes() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys - ms.HeapReleased)
}
