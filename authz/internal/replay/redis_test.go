package replay

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/state"
	"github.com/hookguard/hookguard/e2e/stack"
)

func startRedis(t testing.TB) *stack.Redis {
	t.Helper()
	srv, err := stack.StartRedis(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// A delivery is remembered for its TTL and no longer: Redis drops the key.
func TestRedisTTL(t *testing.T) {
	srv := startRedis(t)
	s := NewRedis(openRedis(t, srv))
	c := claimOn("ep", "d")
	c.TTL = 300 * time.Millisecond
	mustRemember(t, s, c, true, "first")
	mustRemember(t, s, claimOn("ep", "d"), false, "replay within the TTL")
	k := s.keys(&c)[0]
	pttl, err := srv.Command("PTTL", k)
	if n, _ := strconv.Atoi(pttl); err != nil || n <= 0 || n > 300 {
		t.Fatalf("PTTL %q %v, want (0, 300] ms", pttl, err)
	}
	time.Sleep(400 * time.Millisecond)
	mustRemember(t, s, claimOn("ep", "d"), true, "after the TTL")
}

// A Remember that times out after Redis applied it is undone, so the
// provider's retry of the 503 is not called a replay.
func TestRedisUndoesATimedOutRemember(t *testing.T) {
	srv := startRedis(t)
	r, err := state.OpenRedis(state.RedisConfig{URL: srv.URL(), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := NewRedis(r)
	mustRemember(t, s, claimOn("ep", "warm-up"), true, "warm-up")
	slept := make(chan error, 1)
	go func() { _, err := srv.Command("DEBUG", "SLEEP", "0.3"); slept <- err }()
	time.Sleep(30 * time.Millisecond)
	c := claimOn("ep", "d")
	if fresh, err := s.Remember(context.Background(), c); err == nil {
		t.Fatalf("Remember answered %v while Redis slept", fresh)
	}
	if err := <-slept; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		n, err := srv.Command("EXISTS", s.keys(&c)[0])
		if err == nil && n == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the timed-out claim is still held 2s later (EXISTS %q %v)", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustRemember(t, s, claimOn("ep", "d"), true, "the provider's retry")
}

// Redis down: Remember fails within the timeout and never says fresh, and
// no undo is attempted for writes that could not even connect.
func TestRedisOutage(t *testing.T) {
	srv := startRedis(t)
	reg := prometheus.NewRegistry()
	health := state.NewHealth("redis", zerolog.Nop(), reg)
	r, err := state.OpenRedis(state.RedisConfig{URL: srv.URL(), Timeout: 50 * time.Millisecond, Health: health})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := NewRedis(r)
	mustRemember(t, s, claimOn("ep", "a"), true, "before the outage")
	srv.Stop()
	for i := 0; i < 10; i++ {
		start := time.Now()
		fresh, err := s.Remember(context.Background(), claimOn("ep", "b", strconv.Itoa(i)))
		if err == nil || fresh {
			t.Fatalf("Remember with Redis down: fresh %v err %v", fresh, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("Remember took %v with Redis down; the timeout is 50ms", d)
		}
	}
	time.Sleep(100 * time.Millisecond) // any undo would have run by now
	if n := counter(t, reg, "hookguard_state_backend_errors_total", "forget"); n != 0 {
		t.Fatalf("%v undos tried for writes that never reached Redis", n)
	}
	if n := counter(t, reg, "hookguard_state_backend_errors_total", "remember"); n != 10 {
		t.Fatalf("%v remember errors counted, want 10", n)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fresh, err := s.Remember(context.Background(), claimOn("ep", "c"))
		if err == nil && fresh {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Remember still failing 5s after Redis restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisBytesPerDelivery measures what one remembered delivery costs in
// Redis (INFO memory, used_memory), the figure docs/deploy.md sizes Redis
// with.
func TestRedisBytesPerDelivery(t *testing.T) {
	srv := startRedis(t)
	s := NewRedis(openRedis(t, srv))
	used := func() int {
		v, err := srv.Info("memory", "used_memory")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	const n = 20000
	before := used()
	for i := 0; i < n; i++ {
		c := claimOn("github", strconv.Itoa(i))
		c.TTL = time.Hour
		if fresh, err := s.Remember(context.Background(), c); !fresh || err != nil {
			t.Fatal(fresh, err)
		}
	}
	per := float64(used()-before) / n
	t.Logf("%.0f bytes per remembered delivery (one key, %d-byte name, 16-byte token, with TTL)", per, len(s.keys(&authz.Nonces{Endpoint: "github", Keys: make([]authz.NonceKey, 1)})[0]))
	if per < 50 || per > 300 {
		t.Fatalf("%.0f bytes per delivery: outside the 50..300 the deployment guide assumes", per)
	}
}

var _ authz.NonceStore = (*Redis)(nil)

// counter reads the sample of a counter whose op label is op.
func counter(t *testing.T, reg *prometheus.Registry, name, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && l.GetValue() == op {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
