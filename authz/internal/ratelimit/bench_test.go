package ratelimit

import (
	"context"
	"runtime"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// BenchmarkSpray1M sends one request from each of 1,000,000 distinct
// sources at one endpoint capped at 100,000 keys, and reports the heap the
// limiter holds afterwards: it must stay near the cap's worth, not grow
// with the spray.
func BenchmarkSpray1M(b *testing.B) {
	limit := authz.Limit{Rate: 10, Burst: 20, MaxKeys: 100_000}
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		m := NewMemory()
		for i := uint32(0); i < 1_000_000; i++ {
			m.Take(context.Background(), sourceKey(i), limit, t0)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if n := m.Keys("ep"); n != limit.MaxKeys {
			b.Fatalf("%d keys held", n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(limit.MaxKeys), "B/key")
		runtime.KeepAlive(m)
	}
}

// BenchmarkTake is one token from a warm source bucket.
func BenchmarkTake(b *testing.B) {
	m := NewMemory()
	limit := authz.Limit{Rate: 1e9, Burst: 1 << 30}
	key := sourceKey(7)
	b.ReportAllocs()
	for b.Loop() {
		m.Take(context.Background(), key, limit, t0)
	}
}
