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
// with the spray. In the forged case every request also fails its
// verification, so each source holds a failure budget too: the limiter's
// work for a forged request from a new source (peek, take, failure).
func BenchmarkSpray1M(b *testing.B) {
	limit := authz.Limit{Rate: 10, Burst: 20, MaxKeys: 100_000}
	ctx := context.Background()
	for _, forged := range []bool{false, true} {
		name := "valid"
		if forged {
			name = "forged"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				m := NewMemory()
				for i := uint32(0); i < 1_000_000; i++ {
					if forged {
						m.Take(ctx, failureKey(i), limit, 0, t0)
					}
					m.Take(ctx, sourceKey(i), limit, 1, t0)
					if forged {
						m.Take(ctx, failureKey(i), limit, 1, t0)
					}
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
		})
	}
}

// BenchmarkTake is one token from a warm bucket of each scope.
func BenchmarkTake(b *testing.B) {
	limit := authz.Limit{Rate: 1e9, Burst: 1 << 30}
	for _, key := range []authz.LimitKey{sourceKey(7), failureKey(7), endpointKey} {
		b.Run(key.Scope.String(), func(b *testing.B) {
			m := NewMemory()
			m.Take(context.Background(), key, limit, 1, t0)
			b.ReportAllocs()
			for b.Loop() {
				m.Take(context.Background(), key, limit, 1, t0)
			}
		})
	}
}

// BenchmarkPeek is the failure-budget check every request makes before its
// signature: at a source that never failed (no bucket kept), and at one
// whose budget is empty (the prober being refused).
func BenchmarkPeek(b *testing.B) {
	limit := authz.Limit{Rate: 1e-9, Burst: 1}
	for _, spent := range []bool{false, true} {
		name := "never-failed"
		if spent {
			name = "spent"
		}
		b.Run(name, func(b *testing.B) {
			m := NewMemory()
			m.Take(context.Background(), sourceKey(7), limit, 1, t0)
			if spent {
				m.Take(context.Background(), failureKey(7), limit, 1, t0)
			}
			b.ReportAllocs()
			for b.Loop() {
				if res, _ := m.Take(context.Background(), failureKey(7), limit, 0, t0); res.Allowed == spent {
					b.Fatalf("peek %+v", res)
				}
			}
		})
	}
}
