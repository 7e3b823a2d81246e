package replay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/state"
	"github.com/hookguard/hookguard/e2e/stack"
)

// The behaviour every authz.NonceStore shares, run on each store: the memory
// store, and the Redis store against a real redis-server, with two clients
// standing for two replicas.
func TestStores(t *testing.T) {
	srv, err := stack.StartRedis(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	stores := map[string]func(t *testing.T) (a, b authz.NonceStore){
		"memory": func(*testing.T) (a, b authz.NonceStore) {
			m := NewMemory(MemoryConfig{Capacity: 1000})
			return m, m
		},
		"redis": func(t *testing.T) (a, b authz.NonceStore) {
			if _, err := srv.Command("FLUSHALL"); err != nil {
				t.Fatal(err)
			}
			return NewRedis(openRedis(t, srv)), NewRedis(openRedis(t, srv))
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Run("ReplayAndOtherEndpoint", func(t *testing.T) { testReplay(t, open) })
			t.Run("SeveralKeys", func(t *testing.T) { testSeveralKeys(t, open) })
			t.Run("ForgetByToken", func(t *testing.T) { testForgetByToken(t, open) })
			t.Run("ConcurrentRememberIsAtomic", func(t *testing.T) { testConcurrent(t, open) })
		})
	}
}

func openRedis(t testing.TB, srv *stack.Redis) *state.Redis {
	t.Helper()
	r, err := state.OpenRedis(state.RedisConfig{URL: srv.URL(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func claimOn(endpoint string, keys ...string) authz.Nonces {
	c := authz.Nonces{Endpoint: endpoint, TTL: time.Minute, Token: authz.NewNonceToken()}
	for _, k := range keys {
		c.Keys = append(c.Keys, authz.NewNonceKey(endpoint, []byte(k)))
	}
	return c
}

func mustRemember(t *testing.T, s authz.NonceStore, c authz.Nonces, want bool, what string) {
	t.Helper()
	fresh, err := s.Remember(context.Background(), c)
	if err != nil || fresh != want {
		t.Fatalf("%s: fresh %v err %v, want fresh %v", what, fresh, err, want)
	}
}

func testReplay(t *testing.T, open func(*testing.T) (a, b authz.NonceStore)) {
	a, b := open(t)
	mustRemember(t, a, claimOn("github", "d1"), true, "first delivery")
	mustRemember(t, a, claimOn("github", "d1"), false, "replay to the same replica")
	mustRemember(t, b, claimOn("github", "d1"), false, "replay to the other replica")
	mustRemember(t, b, claimOn("stripe", "d1"), true, "same replay key on another endpoint")
	mustRemember(t, b, claimOn("github", "d2"), true, "another delivery")
}

// A delivery with several keys is a replay when any is known, and a replay
// records none of its keys.
func testSeveralKeys(t *testing.T, open func(*testing.T) (a, b authz.NonceStore)) {
	a, b := open(t)
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
		{[]string{"e", "f", "g"}, false},
		{[]string{"f", "g"}, true},
	} {
		s := a
		if i%2 == 1 {
			s = b
		}
		mustRemember(t, s, claimOn("ep", step.keys...), step.fresh, fmt.Sprintf("step %d %v", i, step.keys))
	}
}

// Forget removes only what the claim holds under its own token: a retry
// accepted after a forget holds another token, and a second (late) forget of
// the first claim leaves it alone.
func testForgetByToken(t *testing.T, open func(*testing.T) (a, b authz.NonceStore)) {
	a, b := open(t)
	ctx := context.Background()
	first := claimOn("ep", "k1", "k2")
	mustRemember(t, a, first, true, "first attempt")
	stranger := claimOn("ep", "k1", "k2") // right keys, wrong token
	if err := b.Forget(ctx, stranger); err != nil {
		t.Fatal(err)
	}
	mustRemember(t, b, claimOn("ep", "k1"), false, "after a forget with another token")
	if err := b.Forget(ctx, first); err != nil {
		t.Fatal(err)
	}
	retry := claimOn("ep", "k1", "k2")
	mustRemember(t, b, retry, true, "retry after the forget")
	if err := a.Forget(ctx, first); err != nil {
		t.Fatal(err)
	}
	mustRemember(t, a, claimOn("ep", "k2"), false, "third copy after a late forget of the first attempt")
	if err := a.Forget(ctx, claimOn("ep", "never-seen")); err != nil {
		t.Fatalf("forgetting what is not held: %v", err)
	}
}

func testConcurrent(t *testing.T, open func(*testing.T) (a, b authz.NonceStore)) {
	a, b := open(t)
	for round := 0; round < 20; round++ {
		var fresh atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			s := a
			if g%2 == 1 {
				s = b
			}
			keys := []string{fmt.Sprint("round", round)}
			if g%3 == 0 {
				keys = append(keys, fmt.Sprint("other", g))
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Remember(context.Background(), claimOn("ep", keys...))
				if err != nil {
					t.Error(err)
				}
				if ok {
					fresh.Add(1)
				}
			}()
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Fatalf("round %d: %d callers saw the delivery as new", round, fresh.Load())
		}
	}
}
