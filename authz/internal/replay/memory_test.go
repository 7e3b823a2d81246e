package replay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func key(s string) authz.NonceKey { return authz.NewNonceKey("ep", []byte(s)) }

// claim is a claim on endpoint "ep" for keys, with a token of its own.
func claim(ttl time.Duration, keys ...authz.NonceKey) *authz.NonceClaim {
	return &authz.NonceClaim{Endpoint: "ep", Keys: keys, TTL: ttl, Token: authz.NewNonceToken()}
}

func TestMemoryRememberExpireForget(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMemory(MemoryConfig{Capacity: 10, Clock: clock})
	ctx := context.Background()
	var held *authz.NonceClaim // the claim that last remembered a key
	steps := []struct {
		do        func()
		key       string
		ttl       time.Duration
		wantFresh bool
	}{
		{nil, "a", time.Minute, true},
		{nil, "a", time.Minute, false},
		{func() { clock.Add(59 * time.Second) }, "a", time.Minute, false},
		{func() { clock.Add(time.Second) }, "a", time.Minute, true}, // deadline reached
		{nil, "a", time.Minute, false},
		{func() { m.Forget(ctx, held) }, "a", time.Minute, true},
		{nil, "b", time.Second, true},
		{func() { clock.Add(2 * time.Second) }, "b", time.Hour, true},
	}
	for i, s := range steps {
		if s.do != nil {
			s.do()
		}
		c := claim(s.ttl, key(s.key))
		fresh, err := m.Remember(ctx, c)
		if err != nil || fresh != s.wantFresh {
			t.Fatalf("step %d (%s): fresh=%v err=%v, want fresh=%v", i, s.key, fresh, err, s.wantFresh)
		}
		if fresh {
			held = c
		}
	}
	if m.EvictedEarly() != 0 {
		t.Fatalf("Forget counted as early eviction: %d", m.EvictedEarly())
	}
}

func TestMemoryBoundedAndCountsEarlyEvictions(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	m := NewMemory(MemoryConfig{Capacity: 100, Clock: clock})
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		if fresh, _ := m.Remember(ctx, claim(time.Hour, key(fmt.Sprint(i)))); !fresh {
			t.Fatalf("key %d not fresh", i)
		}
	}
	if m.Len() != 100 {
		t.Fatalf("Len = %d, want the capacity 100", m.Len())
	}
	if m.EvictedEarly() != 900 {
		t.Fatalf("EvictedEarly = %d, want 900", m.EvictedEarly())
	}
	// Entries past their deadline that are pushed out are not early.
	clock.Add(2 * time.Hour)
	for i := 1000; i < 1100; i++ {
		m.Remember(ctx, claim(time.Hour, key(fmt.Sprint(i))))
	}
	if m.EvictedEarly() != 900 {
		t.Fatalf("expired entries counted as early evictions: %d", m.EvictedEarly())
	}
}

func TestMemoryConcurrentRememberIsAtomic(t *testing.T) {
	m := NewMemory(MemoryConfig{Capacity: 1000})
	for round := 0; round < 50; round++ {
		var fresh atomic.Int64
		var wg sync.WaitGroup
		k := key(fmt.Sprint("round", round))
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ok, _ := m.Remember(context.Background(), claim(time.Minute, k)); ok {
					fresh.Add(1)
				}
			}()
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Fatalf("round %d: %d callers saw the key as new", round, fresh.Load())
		}
	}
}

func TestMemoryDefaults(t *testing.T) {
	m := NewMemory(MemoryConfig{})
	if fresh, err := m.Remember(context.Background(), claim(time.Minute, key("x"))); !fresh || err != nil {
		t.Fatal(fresh, err)
	}
}

// A delivery with several keys is a replay when any is known, and a replay
// records none of its keys.
func TestMemoryRememberSeveralKeys(t *testing.T) {
	m := NewMemory(MemoryConfig{Capacity: 100})
	ctx := context.Background()
	for i, step := range []struct {
		keys  []string
		fresh bool
	}{
		{[]string{"a", "b"}, true},
		{[]string{"b"}, false},
		{[]string{"b", "a"}, false},
		{[]string{"c", "b"}, false},
		{[]string{"c"}, true}, // c was not recorded by the replay above
		{[]string{"d", "e"}, true},
	} {
		var keys []authz.NonceKey
		for _, k := range step.keys {
			keys = append(keys, key(k))
		}
		if fresh, err := m.Remember(ctx, claim(time.Minute, keys...)); err != nil || fresh != step.fresh {
			t.Fatalf("step %d %v: fresh %v, want %v", i, step.keys, fresh, step.fresh)
		}
	}
}
