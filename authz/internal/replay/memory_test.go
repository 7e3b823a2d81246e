package replay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

func newClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func key(s string) authz.NonceKey { return authz.NewNonceKey("ep", []byte(s)) }

// one is a delivery with one key on endpoint ep.
func one(ep, k string, ttl time.Duration) authz.Nonces {
	return authz.Nonces{Endpoint: ep, Keys: []authz.NonceKey{authz.NewNonceKey(ep, []byte(k))}, TTL: ttl}
}

func mustFresh(t *testing.T, m *Memory, n authz.Nonces, want bool) {
	t.Helper()
	fresh, err := m.Remember(context.Background(), n)
	if err != nil || fresh != want {
		t.Fatalf("Remember(%s, %x…): fresh=%v err=%v, want fresh=%v", n.Endpoint, n.Keys[0][:4], fresh, err, want)
	}
}

func TestMemoryRememberExpireForget(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryConfig{Capacity: 10, Clock: clock})
	ctx := context.Background()
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
		// Forgetting under another claim's token changes nothing.
		{func() {
			m.Forget(ctx, authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{key("a")}, Token: authz.NonceToken{1}})
		}, "a", time.Minute, false},
		{func() { m.Forget(ctx, one("ep", "a", 0)) }, "a", time.Minute, true},
		{nil, "b", time.Second, true},
		{func() { clock.Add(2 * time.Second) }, "b", time.Hour, true},
		// Forgetting on another endpoint, or an unknown key, changes nothing.
		{func() { m.Forget(ctx, one("other", "b", 0)); m.Forget(ctx, one("ep", "zz", 0)) }, "b", time.Hour, false},
	}
	for i, s := range steps {
		if s.do != nil {
			s.do()
		}
		mustFresh(t, m, one("ep", s.key, s.ttl), s.wantFresh)
		if t.Failed() {
			t.Fatalf("step %d", i)
		}
	}
	if m.EvictedEarly() != 0 {
		t.Fatalf("Forget or expiry counted as early eviction: %d", m.EvictedEarly())
	}
}

// A share holds exactly its capacity: every delivery beyond evicts the
// oldest, counted as early while its deadline is ahead and not once it has
// passed.
func TestMemoryShareBoundedAndCountsEarlyEvictions(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryConfig{Capacity: 1000, Clock: clock})
	for i := range 1000 {
		mustFresh(t, m, authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{key(fmt.Sprint(i))}, TTL: time.Hour, Capacity: 100}, true)
	}
	if m.Len() != 100 {
		t.Fatalf("Len = %d, want the share's 100", m.Len())
	}
	if m.EvictedEarly() != 900 {
		t.Fatalf("EvictedEarly = %d, want 900", m.EvictedEarly())
	}
	// The newest 100 are held, the oldest gone.
	mustFresh(t, m, authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{key("999")}, TTL: time.Hour, Capacity: 100}, false)
	mustFresh(t, m, authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{key("900")}, TTL: time.Hour, Capacity: 100}, false)
	if m.EvictedEarly() != 900 {
		t.Fatalf("a replay evicted: %d", m.EvictedEarly())
	}
	// Entries past their deadline that make room are not early.
	clock.Add(2 * time.Hour)
	for i := 1000; i < 1100; i++ {
		mustFresh(t, m, authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{key(fmt.Sprint(i))}, TTL: time.Hour, Capacity: 100}, true)
	}
	if m.EvictedEarly() != 900 {
		t.Fatalf("expired entries counted as early evictions: %d", m.EvictedEarly())
	}
	if st := m.Shares(); len(st) != 1 || st[0] != (ShareStats{Endpoint: "ep", Capacity: 100, Entries: 100, EvictedEarly: 900}) {
		t.Fatalf("Shares = %+v", st)
	}
}

// A large share is split into shards, each filling on its own: it never
// holds more than its capacity, holds nearly all of it before the first
// eviction, and counts exactly what it evicted.
func TestMemoryShardedShareAccounting(t *testing.T) {
	const capacity = 100_000
	m := NewMemory(MemoryConfig{Capacity: capacity, Clock: newClock()})
	ctx := context.Background()
	fill := func(from, to int) {
		for i := from; i < to; i++ {
			if fresh, err := m.Remember(ctx, one("ep", fmt.Sprint(i), time.Hour)); !fresh || err != nil {
				t.Fatalf("delivery %d: fresh %v, err %v", i, fresh, err)
			}
		}
	}
	fill(0, capacity*9/10)
	if m.EvictedEarly() != 0 || m.Len() != capacity*9/10 {
		t.Fatalf("at 90%%: Len %d, EvictedEarly %d; want everything held", m.Len(), m.EvictedEarly())
	}
	fill(capacity*9/10, capacity)
	if n := m.Len(); n > capacity || n < capacity*98/100 {
		t.Fatalf("Len = %d, want at most %d and within 2%% of it", n, capacity)
	}
	if got, want := m.EvictedEarly(), uint64(capacity-m.Len()); got != want {
		t.Fatalf("EvictedEarly = %d, want %d (remembered minus held)", got, want)
	}
	fill(capacity, 3*capacity)
	if m.Len() != capacity || m.EvictedEarly() != 2*capacity {
		t.Fatalf("after 3× the capacity: Len %d, EvictedEarly %d; want %d and %d", m.Len(), m.EvictedEarly(), capacity, 2*capacity)
	}
	if sh := (*m.shares.Load())["ep"]; len(sh.shards) != maxShards {
		t.Fatalf("%d shards, want %d", len(sh.shards), maxShards)
	}
}

// TestMemoryEndpointsDoNotEvictEachOther is the case of a low-trust
// endpoint whose verified traffic used to push a GitHub endpoint's
// deliveries out of one shared LRU: each endpoint now has its own share.
func TestMemoryEndpointsDoNotEvictEachOther(t *testing.T) {
	m := NewMemory(MemoryConfig{Capacity: 1000, Clock: newClock()})
	github := func(k string) authz.Nonces {
		n := one("github", k, 24*time.Hour)
		n.Capacity = 500
		return n
	}
	mustFresh(t, m, github("captured"), true)
	for i := range 10_000 {
		n := one("partner", fmt.Sprint(i), time.Hour)
		n.Capacity = 500
		mustFresh(t, m, n, true)
	}
	mustFresh(t, m, github("captured"), false)
	var got []ShareStats
	for _, st := range m.Shares() {
		got = append(got, st)
	}
	want := []ShareStats{
		{Endpoint: "github", Capacity: 500, Entries: 1},
		{Endpoint: "partner", Capacity: 500, Entries: 500, EvictedEarly: 9500},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Shares = %+v, want %+v", got, want)
	}
}

// With OnFull RejectWhenFull a full share refuses new deliveries, records
// nothing, and says when room comes back; nothing is evicted.
func TestMemoryRejectWhenFull(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryConfig{Capacity: 1000, Clock: clock})
	n := func(k string) authz.Nonces {
		return authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{key(k)}, TTL: time.Hour, Capacity: 3, OnFull: authz.RejectWhenFull}
	}
	for i, k := range []string{"a", "b", "c"} {
		mustFresh(t, m, n(k), true)
		if i < 2 {
			clock.Add(10 * time.Minute)
		}
	}
	_, err := m.Remember(context.Background(), n("d"))
	var full *authz.ShareFullError
	if !errors.As(err, &full) || full.Endpoint != "ep" || full.RetryAfter != 40*time.Minute {
		t.Fatalf("err = %v (%+v), want a ShareFullError with RetryAfter 40m, when a expires", err, full)
	}
	// A replay of a held delivery is still a replay, not an error.
	mustFresh(t, m, n("a"), false)
	if m.EvictedEarly() != 0 || m.Len() != 3 {
		t.Fatalf("EvictedEarly %d, Len %d: a refusal must change nothing", m.EvictedEarly(), m.Len())
	}
	clock.Add(40 * time.Minute)
	mustFresh(t, m, n("d"), true)
	mustFresh(t, m, n("b"), false)
	// A delivery with more keys than the share holds is refused, even
	// with evict_oldest, rather than half recorded.
	many := authz.Nonces{Endpoint: "ep", TTL: time.Hour, Capacity: 3,
		Keys: []authz.NonceKey{key("w"), key("x"), key("y"), key("z")}}
	if _, err := m.Remember(context.Background(), many); !errors.As(err, &full) {
		t.Fatalf("4 keys in a share of 3: err %v, want a ShareFullError", err)
	}
}

// TestMemoryConcurrentRememberIsAtomic: of many concurrent copies of a
// delivery exactly one is fresh, on a sharded share, for deliveries with
// one key and with several (whose keys lie in several shards).
func TestMemoryConcurrentRememberIsAtomic(t *testing.T) {
	m := NewMemory(MemoryConfig{Capacity: 1 << 20})
	const rounds, goroutines, keysPerRound = 200, 16, 50
	for round := range rounds {
		var fresh [keysPerRound]atomic.Int64
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range keysPerRound {
					i := (i + g) % keysPerRound // each goroutine in another order
					n := one("ep", fmt.Sprint(round, "/", i), time.Minute)
					if i%5 == 0 {
						// Several keys: this one's and two of its own.
						n.Keys = append(n.Keys, key(fmt.Sprint(round, "/", i, "/x")), key(fmt.Sprint(round, "/", i, "/y")))
					}
					ok, err := m.Remember(context.Background(), n)
					if err != nil {
						t.Error(err)
					}
					if ok {
						fresh[i].Add(1)
					}
				}
			}()
		}
		wg.Wait()
		for i := range fresh {
			if n := fresh[i].Load(); n != 1 {
				t.Fatalf("round %d, delivery %d: %d callers saw it as new", round, i, n)
			}
		}
	}
}

// Remember and Forget racing with resizes and Retain lose nothing they
// report: a delivery seen fresh is a replay afterwards, on whatever share
// replaced the one it was recorded in.
func TestMemoryConcurrentResize(t *testing.T) {
	m := NewMemory(MemoryConfig{Capacity: 1 << 20})
	stop := make(chan struct{})
	resizerDone := make(chan struct{})
	go func() {
		defer close(resizerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Resize the share, as a reload changing replay.capacity
			// would (the next delivery below resizes it back), and drop
			// an unrelated endpoint.
			m.Remember(context.Background(), authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{key(fmt.Sprint("resize", i))}, TTL: time.Minute, Capacity: 1 << 19})
			m.Retain(func(name string) bool { return name != "gone" })
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				n := one("ep", fmt.Sprint(g, "/", i), time.Minute)
				if ok, err := m.Remember(context.Background(), n); !ok || err != nil {
					t.Errorf("first copy of %d/%d: fresh %v, err %v", g, i, ok, err)
					return
				}
				if ok, _ := m.Remember(context.Background(), n); ok {
					t.Errorf("second copy of %d/%d accepted", g, i)
					return
				}
				m.Remember(context.Background(), one("gone", fmt.Sprint(g, "/", i), time.Minute))
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-resizerDone
	if m.EvictedEarly() != 0 {
		t.Fatalf("EvictedEarly = %d; the shares were never full", m.EvictedEarly())
	}
}

// A share whose capacity changes keeps its deliveries; one that shrinks
// keeps the newest and counts the others as evicted early.
func TestMemoryShareResize(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryConfig{Capacity: 1 << 20, Clock: clock})
	n := func(k string, capacity int) authz.Nonces {
		return authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{key(k)}, TTL: time.Hour, Capacity: capacity}
	}
	for i := range 5000 {
		mustFresh(t, m, n(fmt.Sprint(i), 10_000), true)
		clock.Add(time.Millisecond)
	}
	// Growing into several shards: every delivery is still known.
	mustFresh(t, m, n("new", 100_000), true)
	for i := range 5000 {
		mustFresh(t, m, n(fmt.Sprint(i), 100_000), false)
	}
	// Shrinking: the newest 1000 of the 5001 stay ("new" and 4001 to
	// 4999), then "newer" pushes out 4001.
	mustFresh(t, m, n("newer", 1000), true)
	if st := m.Shares()[0]; st.Capacity != 1000 || st.Entries != 1000 || st.EvictedEarly != 4002 {
		t.Fatalf("after shrinking: %+v", st)
	}
	mustFresh(t, m, n("4999", 1000), false)
	mustFresh(t, m, n("4002", 1000), false)
	mustFresh(t, m, n("new", 1000), false)
	mustFresh(t, m, n("4001", 1000), true)
}

// Retain drops the shares of endpoints a reload removed.
func TestMemoryRetain(t *testing.T) {
	m := NewMemory(MemoryConfig{Capacity: 100})
	mustFresh(t, m, one("a", "x", time.Hour), true)
	mustFresh(t, m, one("b", "x", time.Hour), true)
	m.Retain(func(name string) bool { return name == "a" })
	if st := m.Shares(); len(st) != 1 || st[0].Endpoint != "a" || m.Len() != 1 {
		t.Fatalf("Shares = %+v, Len %d", st, m.Len())
	}
	mustFresh(t, m, one("a", "x", time.Hour), false)
	mustFresh(t, m, one("b", "x", time.Hour), true)
}

// EvictedEarly is called on an endpoint's first early eviction and then at
// most once a minute, with the endpoint's total.
func TestMemoryEvictedEarlyNotice(t *testing.T) {
	clock := newClock()
	type notice struct {
		endpoint string
		total    uint64
	}
	var got []notice
	m := NewMemory(MemoryConfig{Capacity: 2, Clock: clock, EvictedEarly: func(ep string, total uint64) {
		got = append(got, notice{ep, total})
	}})
	for i := range 10 {
		mustFresh(t, m, one("a", fmt.Sprint(i), time.Hour), true)
		mustFresh(t, m, one("b", fmt.Sprint(i), time.Hour), true)
	}
	clock.Add(59 * time.Second)
	mustFresh(t, m, one("a", "late", time.Hour), true)
	clock.Add(time.Second)
	mustFresh(t, m, one("a", "later", time.Hour), true)
	want := []notice{{"a", 1}, {"b", 1}, {"a", 10}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notices %v, want %v", got, want)
	}
}

func TestMemoryDefaults(t *testing.T) {
	m := NewMemory(MemoryConfig{})
	mustFresh(t, m, one("ep", "x", time.Minute), true)
	if st := m.Shares(); st[0].Capacity != DefaultCapacity {
		t.Fatalf("share of an endpoint asking none: %d, want the store's %d", st[0].Capacity, DefaultCapacity)
	}
	if _, err := m.Remember(context.Background(), one("ep", "y", 0)); err == nil {
		t.Fatal("a zero TTL must be refused")
	}
	if fresh, err := m.Remember(context.Background(), authz.Nonces{Endpoint: "ep", TTL: time.Minute}); err == nil || fresh {
		t.Fatal("a delivery without keys must be refused, not taken as new")
	}
	big := one("ep", "z", time.Minute)
	big.Capacity = 2 * DefaultCapacity
	mustFresh(t, m, big, true)
	if st := m.Shares(); st[0].Capacity != DefaultCapacity {
		t.Fatalf("a share larger than the store: %d, want the store's %d", st[0].Capacity, DefaultCapacity)
	}
}

// A delivery with several keys is a replay when any is known, and a replay
// records none of its keys.
func TestMemoryRememberSeveralKeys(t *testing.T) {
	m := NewMemory(MemoryConfig{Capacity: 1 << 16}) // several shards
	for i, step := range []struct {
		keys  []string
		fresh bool
	}{
		{[]string{"a", "b"}, true},
		{[]string{"b"}, false},
		{[]string{"b", "a"}, false},
		{[]string{"c", "b"}, false},
		{[]string{"c"}, true}, // c was not recorded by the replay above
		{[]string{"d", "e", "d"}, true},
		{[]string{"e"}, false},
	} {
		n := authz.Nonces{Endpoint: "ep", TTL: time.Minute}
		for _, k := range step.keys {
			n.Keys = append(n.Keys, key(k))
		}
		if fresh, err := m.Remember(context.Background(), n); err != nil || fresh != step.fresh {
			t.Fatalf("step %d %v: fresh %v, want %v", i, step.keys, fresh, step.fresh)
		}
	}
	if m.Len() != 5 {
		t.Fatalf("Len = %d, want 5 (a, b, c, d, e)", m.Len())
	}
}

// TestMemoryMatchesModel runs random deliveries, replays, forgets and
// clock steps against a store and against a plain model of a FIFO per
// shard, and compares every answer, the size and the early evictions: the
// index (open addressing with backward-shift deletion) and the rings
// (growth, wrap-around, lazy expiry) must agree with it.
func TestMemoryMatchesModel(t *testing.T) {
	for _, capacity := range []int{1, 7, 100, 5000} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			clock := newClock()
			m := NewMemory(MemoryConfig{Capacity: capacity, Clock: clock})
			rng := rand.New(rand.NewPCG(uint64(capacity), 1))
			universe := 3 * capacity
			if universe < 20 {
				universe = 20
			}
			var model *shareModel
			ctx := context.Background()
			for op := range 60_000 {
				k := key(fmt.Sprint(rng.IntN(universe)))
				switch r := rng.IntN(100); {
				case r < 80:
					// Several TTLs, as reloads changing replay.ttl
					// leave, so deadlines are not always in order.
					ttl := time.Duration(1+rng.IntN(3)) * time.Second
					got, err := m.Remember(ctx, authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{k}, TTL: ttl})
					if err != nil {
						t.Fatal(err)
					}
					if model == nil {
						model = newShareModel((*m.shares.Load())["ep"])
					}
					if want := model.remember(k, clock.Now().UnixNano(), ttl); got != want {
						t.Fatalf("op %d: fresh %v, model says %v", op, got, want)
					}
				case r < 90:
					m.Forget(ctx, authz.Nonces{Endpoint: "ep", Keys: []authz.NonceKey{k}})
					if model != nil {
						model.forget(k)
					}
				default:
					clock.Add(time.Duration(rng.IntN(700)) * time.Millisecond)
				}
				if model != nil && (m.EvictedEarly() != model.early || m.Len() < model.live(clock.Now().UnixNano())) {
					t.Fatalf("op %d: EvictedEarly %d, Len %d; model %d, %d live", op, m.EvictedEarly(), m.Len(), model.early, model.live(clock.Now().UnixNano()))
				}
			}
			if model.early == 0 && capacity < 5000 {
				t.Error("the run never filled the share")
			}
		})
	}
}

// shareModel is the plain model of a share TestMemoryMatchesModel checks
// the store against: per shard, a slice of entries, oldest first.
type shareModel struct {
	sh     *share
	shards [][]modelEntry
	early  uint64
}

type modelEntry struct {
	key      authz.NonceKey
	deadline int64
	gone     bool // forgotten, or remembered again after it expired
}

func newShareModel(sh *share) *shareModel {
	return &shareModel{sh: sh, shards: make([][]modelEntry, len(sh.shards))}
}

func (m *shareModel) shard(k authz.NonceKey) (*[]modelEntry, int) {
	i := int(m.sh.hash(&k) >> m.sh.shift)
	return &m.shards[i], m.sh.shards[i].limit
}

func (m *shareModel) remember(k authz.NonceKey, now int64, ttl time.Duration) bool {
	s, limit := m.shard(k)
	for i := range *s {
		if e := &(*s)[i]; !e.gone && e.key == k {
			if e.deadline > now {
				return false
			}
			e.gone = true
		}
	}
	for len(*s) > 0 && ((*s)[0].gone || (*s)[0].deadline <= now) {
		*s = (*s)[1:]
	}
	for len(*s) >= limit {
		if !(*s)[0].gone && (*s)[0].deadline > now {
			m.early++
		}
		*s = (*s)[1:]
	}
	*s = append(*s, modelEntry{key: k, deadline: now + int64(ttl)})
	return true
}

func (m *shareModel) forget(k authz.NonceKey) {
	s, _ := m.shard(k)
	for i := range *s {
		if e := &(*s)[i]; e.key == k {
			e.gone = true
		}
	}
}

// live counts the entries still within their TTL, which the store must
// hold at least.
func (m *shareModel) live(now int64) int {
	n := 0
	for _, s := range m.shards {
		for _, e := range s {
			if !e.gone && e.deadline > now {
				n++
			}
		}
	}
	return n
}

// Remembering a delivery allocates nothing once its shard's ring has grown
// to hold it: a check pays no allocation, and the collector no garbage,
// for replay protection.
func TestMemoryRememberDoesNotAllocate(t *testing.T) {
	m := NewMemory(MemoryConfig{Capacity: 1000})
	n := one("ep", "x", time.Minute)
	for i := range 2000 { // fill the ring, so that it no longer grows
		n.Keys[0] = key(fmt.Sprint(i))
		mustFresh(t, m, n, true)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		n.Keys[0][0], n.Keys[0][1] = byte(i), byte(i>>8)
		i++
		m.Remember(context.Background(), n)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per delivery, want 0", allocs)
	}
}
