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
	return authz.LimitKey{Endpoint: "ep", Scope: authz.LimitSource, Source: netip.PrefixFrom(a, 32)}
}

func failureKey(i uint32) authz.LimitKey {
	k := sourceKey(i)
	k.Scope = authz.LimitFailures
	return k
}

var endpointKey = authz.LimitKey{Endpoint: "ep", Scope: authz.LimitEndpoint}

func TestTakeRefillAndRetryAfter(t *testing.T) {
	m := NewMemory()
	limit := authz.Limit{Rate: 10, Burst: 5}
	key := sourceKey(1)
	for i := 0; i < 5; i++ {
		res, err := m.Take(context.Background(), key, limit, 1, t0)
		if err != nil || !res.Allowed || res.Remaining != 4-i {
			t.Fatalf("token %d: %+v %v", i, res, err)
		}
	}
	res, _ := m.Take(context.Background(), key, limit, 1, t0)
	if res.Allowed || res.RetryAfter != 100*time.Millisecond {
		t.Fatalf("empty bucket: %+v, want retry after 100ms", res)
	}
	if res, _ := m.Take(context.Background(), key, limit, 1, t0.Add(100*time.Millisecond)); !res.Allowed {
		t.Fatal("one token refilled after 100ms")
	}
	// The endpoint's own bucket is separate from its sources'.
	if res, _ := m.Take(context.Background(), endpointKey, limit, 1, t0); !res.Allowed {
		t.Fatal("endpoint bucket shared with a source")
	}
	// A reload that raises the burst applies to existing buckets: they
	// fill up to the new size from then on.
	limit.Burst = 50
	m.Take(context.Background(), key, limit, 1, t0.Add(10*time.Second))
	res, _ = m.Take(context.Background(), key, limit, 1, t0.Add(20*time.Second))
	if !res.Allowed || res.Remaining != 49 {
		t.Fatalf("after raising the burst: %+v", res)
	}
}

// A peek (cost 0) says whether a token is there and takes none; a cost
// above one takes that many or none.
func TestPeekAndCost(t *testing.T) {
	ctx := context.Background()
	limit := authz.Limit{Rate: 1, Burst: 3}
	for _, key := range []authz.LimitKey{failureKey(1), sourceKey(1), endpointKey} {
		t.Run(key.Scope.String(), func(t *testing.T) {
			m := NewMemory()
			steps := []struct {
				cost          int
				at            time.Duration
				allowed       bool
				remaining     int
				retryAfterSec float64
			}{
				{0, 0, true, 3, 0}, // never taken from: full
				{0, 0, true, 3, 0}, // a peek takes nothing
				{2, 0, true, 1, 0},
				{2, 0, false, 1, 1}, // one token short: nothing taken
				{1, 0, true, 0, 0},
				{0, 0, false, 0, 1},
				{0, 500 * time.Millisecond, false, 0, 0.5},
				{0, time.Second, true, 1, 0},
				{1, time.Second, true, 0, 0},
			}
			for i, s := range steps {
				res, err := m.Take(ctx, key, limit, s.cost, t0.Add(s.at))
				if err != nil || res.Allowed != s.allowed || res.Remaining != s.remaining || res.RetryAfter.Seconds() != s.retryAfterSec {
					t.Fatalf("step %d (cost %d at +%v): %+v %v, want allowed %v remaining %d retry after %vs",
						i, s.cost, s.at, res, err, s.allowed, s.remaining, s.retryAfterSec)
				}
			}
		})
	}
}

// A source's request bucket and failure budget are separate buckets, in one
// entry of the endpoint's source set.
func TestSourceScopesAreSeparate(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	limit := authz.Limit{Rate: 1, Burst: 1}
	if res, _ := m.Take(ctx, failureKey(1), limit, 1, t0); !res.Allowed {
		t.Fatal("first failure refused")
	}
	if res, _ := m.Take(ctx, failureKey(1), limit, 0, t0); res.Allowed {
		t.Fatal("failure budget not spent")
	}
	if res, _ := m.Take(ctx, sourceKey(1), limit, 1, t0); !res.Allowed {
		t.Fatal("a failure spent the source's request bucket")
	}
	if res, _ := m.Take(ctx, failureKey(2), limit, 0, t0); !res.Allowed {
		t.Fatal("another source's failure budget spent")
	}
	if n := m.Keys("ep"); n != 1 {
		t.Fatalf("%d sources held, want 1 (both buckets of source 1; a peek keeps nothing)", n)
	}
}

func TestBadKeysFail(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	limit := authz.Limit{Rate: 1, Burst: 1}
	for name, c := range map[string]struct {
		key  authz.LimitKey
		cost int
	}{
		"negative cost":      {sourceKey(1), -1},
		"no scope":           {authz.LimitKey{Endpoint: "ep", Source: sourceKey(1).Source}, 1},
		"unknown scope":      {authz.LimitKey{Endpoint: "ep", Scope: 9, Source: sourceKey(1).Source}, 1},
		"source without one": {authz.LimitKey{Endpoint: "ep", Scope: authz.LimitSource}, 1},
		"failures without":   {authz.LimitKey{Endpoint: "ep", Scope: authz.LimitFailures}, 0},
	} {
		if res, err := m.Take(ctx, c.key, limit, c.cost, t0); err == nil || res.Allowed {
			t.Errorf("%s: %+v %v, want an error", name, res, err)
		}
	}
}

func TestKeysBoundedUnderSpray(t *testing.T) {
	m := NewMemory()
	limit := authz.Limit{Rate: 1, Burst: 1, MaxKeys: 1000}
	for i := uint32(0); i < 100_000; i++ {
		m.Take(context.Background(), sourceKey(i), limit, 1, t0)
		m.Take(context.Background(), failureKey(i), limit, 1, t0)
	}
	if n := m.Keys("ep"); n != 1000 {
		t.Fatalf("%d sources held, want the cap 1000", n)
	}
	// The most recent sources are still limited, on both budgets.
	if res, _ := m.Take(context.Background(), sourceKey(99_999), limit, 1, t0); res.Allowed {
		t.Fatal("a recent source's bucket was dropped")
	}
	if res, _ := m.Take(context.Background(), failureKey(99_999), limit, 0, t0); res.Allowed {
		t.Fatal("a recent source's failure budget was dropped")
	}
	// Peeks at sources never charged keep nothing, so they cannot evict.
	for i := uint32(100_000); i < 200_000; i++ {
		m.Take(context.Background(), failureKey(i), limit, 0, t0)
	}
	if res, _ := m.Take(context.Background(), failureKey(99_999), limit, 0, t0); res.Allowed {
		t.Fatal("peeks at new sources evicted a charged one")
	}
	limit.MaxKeys = 10
	m.Take(context.Background(), sourceKey(1), limit, 1, t0)
	if n := m.Keys("ep"); n != 10 {
		t.Fatalf("after shrinking max_keys: %d sources", n)
	}
}

func TestConcurrentTakesNeverExceedBurst(t *testing.T) {
	limit := authz.Limit{Rate: 0.001, Burst: 100}
	for _, key := range []authz.LimitKey{endpointKey, sourceKey(1), failureKey(1)} {
		m := NewMemory()
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					if res, _ := m.Take(context.Background(), key, limit, 1, t0); res.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if allowed.Load() != 100 {
			t.Fatalf("%s: %d of 800 allowed, want the burst 100", key.Scope, allowed.Load())
		}
	}
}

func TestRetainDropsRemovedEndpoints(t *testing.T) {
	m := NewMemory()
	limit := authz.Limit{Rate: 1, Burst: 1}
	key := func(ep string) authz.LimitKey {
		return authz.LimitKey{Endpoint: ep, Scope: authz.LimitSource, Source: sourceKey(1).Source}
	}
	for _, ep := range []string{"kept", "removed"} {
		m.Take(context.Background(), key(ep), limit, 1, t0)
	}
	m.Retain(func(name string) bool { return name == "kept" })
	if m.Keys("kept") != 1 || m.Keys("removed") != 0 {
		t.Fatalf("kept %d, removed %d buckets", m.Keys("kept"), m.Keys("removed"))
	}
	// The kept endpoint's bucket is the same one: still empty.
	if res, _ := m.Take(context.Background(), key("kept"), limit, 1, t0); res.Allowed {
		t.Fatal("Retain reset a kept bucket")
	}
}
