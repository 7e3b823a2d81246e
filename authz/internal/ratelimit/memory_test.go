package ratelimit

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

var t0 = time.Unix(1_700_000_000, 0)

func sourceKey(i uint32) authz.LimitKey {
	a := netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
	return authz.LimitKey{Endpoint: "ep", Source: netip.PrefixFrom(a, 32)}
}

func TestTakeRefillAndRetryAfter(t *testing.T) {
	m := NewMemory()
	limit := authz.Limit{Rate: 10, Burst: 5}
	key := sourceKey(1)
	for i := 0; i < 5; i++ {
		res, err := m.Take(context.Background(), key, limit, t0)
		if err != nil || !res.Allowed || res.Remaining != 4-i {
			t.Fatalf("token %d: %+v %v", i, res, err)
		}
	}
	res, _ := m.Take(context.Background(), key, limit, t0)
	if res.Allowed || res.RetryAfter != 100*time.Millisecond {
		t.Fatalf("empty bucket: %+v, want retry after 100ms", res)
	}
	if res, _ := m.Take(context.Background(), key, limit, t0.Add(100*time.Millisecond)); !res.Allowed {
		t.Fatal("one token refilled after 100ms")
	}
	// The endpoint's own bucket is separate from its sources'.
	if res, _ := m.Take(context.Background(), authz.LimitKey{Endpoint: "ep"}, limit, t0); !res.Allowed {
		t.Fatal("endpoint bucket shared with a source")
	}
	// A reload that raises the burst applies to existing buckets: they
	// fill up to the new size from then on.
	limit.Burst = 50
	m.Take(context.Background(), key, limit, t0.Add(10*time.Second))
	res, _ = m.Take(context.Background(), key, limit, t0.Add(20*time.Second))
	if !res.Allowed || res.Remaining != 49 {
		t.Fatalf("after raising the burst: %+v", res)
	}
}

func TestKeysBoundedUnderSpray(t *testing.T) {
	m := NewMemory()
	limit := authz.Limit{Rate: 1, Burst: 1, MaxKeys: 1000}
	for i := uint32(0); i < 100_000; i++ {
		m.Take(context.Background(), sourceKey(i), limit, t0)
	}
	if n := m.Keys("ep"); n != 1000 {
		t.Fatalf("%d buckets held, want the cap 1000", n)
	}
	// The most recent sources are still limited.
	if res, _ := m.Take(context.Background(), sourceKey(99_999), limit, t0); res.Allowed {
		t.Fatal("a recent source's bucket was dropped")
	}
	limit.MaxKeys = 10
	m.Take(context.Background(), sourceKey(1), limit, t0)
	if n := m.Keys("ep"); n != 10 {
		t.Fatalf("after shrinking max_keys: %d buckets", n)
	}
}

func TestConcurrentTakesNeverExceedBurst(t *testing.T) {
	m := NewMemory()
	limit := authz.Limit{Rate: 0.001, Burst: 100}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if res, _ := m.Take(context.Background(), authz.LimitKey{Endpoint: "ep"}, limit, t0); res.Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 100 {
		t.Fatalf("%d of 800 allowed, want the burst 100", allowed.Load())
	}
}

func TestRetainDropsRemovedEndpoints(t *testing.T) {
	m := NewMemory()
	limit := authz.Limit{Rate: 1, Burst: 1}
	for _, ep := range []string{"kept", "removed"} {
		m.Take(context.Background(), authz.LimitKey{Endpoint: ep, Source: sourceKey(1).Source}, limit, t0)
	}
	m.Retain(func(name string) bool { return name == "kept" })
	if m.Keys("kept") != 1 || m.Keys("removed") != 0 {
		t.Fatalf("kept %d, removed %d buckets", m.Keys("kept"), m.Keys("removed"))
	}
	// The kept endpoint's bucket is the same one: still empty.
	if res, _ := m.Take(context.Background(), authz.LimitKey{Endpoint: "kept", Source: sourceKey(1).Source}, limit, t0); res.Allowed {
		t.Fatal("Retain reset a kept bucket")
	}
}
