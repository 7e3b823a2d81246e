package ratelimit

import (
	"context"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/state"
	"github.com/hookguard/hookguard/e2e/stack"
)

// startRedis runs a real redis-server for the test.
func startRedis(t testing.TB) *stack.Redis {
	t.Helper()
	srv, err := stack.StartRedis(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// openRedis is one replica's connection to srv.
func openRedis(t testing.TB, srv *stack.Redis) *state.Redis {
	t.Helper()
	r, err := state.OpenRedis(state.RedisConfig{URL: srv.URL(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

var src1 = netip.MustParsePrefix("192.0.2.1/32")

func TestRedisTakeRefillAndRetryAfter(t *testing.T) {
	srv := startRedis(t)
	l := NewRedis(openRedis(t, srv))
	ctx := context.Background()
	limit := authz.Limit{Rate: 10, Burst: 5}
	key := authz.LimitKey{Endpoint: "ep", Scope: authz.LimitSource, Source: src1}
	for i := 0; i < 5; i++ {
		res, err := l.Take(ctx, key, limit, 1, time.Time{})
		if err != nil || !res.Allowed || res.Remaining != 4-i {
			t.Fatalf("token %d: %+v %v", i, res, err)
		}
	}
	res, err := l.Take(ctx, key, limit, 1, time.Time{})
	if err != nil || res.Allowed || res.Remaining != 0 || res.RetryAfter <= 50*time.Millisecond || res.RetryAfter > 100*time.Millisecond {
		t.Fatalf("empty bucket: %+v %v, want denied with retry after (50ms, 100ms]", res, err)
	}
	time.Sleep(res.RetryAfter)
	if res, _ := l.Take(ctx, key, limit, 1, time.Time{}); !res.Allowed {
		t.Fatalf("no token back after the retry-after: %+v", res)
	}
	if res, _ := l.Take(ctx, authz.LimitKey{Endpoint: "ep", Scope: authz.LimitEndpoint}, limit, 1, time.Time{}); !res.Allowed || res.Remaining != 4 {
		t.Fatalf("endpoint bucket shared with a source: %+v", res)
	}
	if res, _ := l.Take(ctx, authz.LimitKey{Endpoint: "other", Scope: authz.LimitSource, Source: src1}, limit, 1, time.Time{}); !res.Allowed || res.Remaining != 4 {
		t.Fatalf("another endpoint's bucket for the same source was spent: %+v", res)
	}
	if res, _ := l.Take(ctx, authz.LimitKey{Endpoint: "ep", Scope: authz.LimitFailures, Source: src1}, limit, 1, time.Time{}); !res.Allowed || res.Remaining != 4 {
		t.Fatalf("the source's failure budget was spent by its requests: %+v", res)
	}
	// The key lives until the bucket is full again, no longer.
	if n, err := srv.Command("DBSIZE"); err != nil || n != "4" {
		t.Fatalf("DBSIZE %q %v, want 4 buckets", n, err)
	}
	time.Sleep(600 * time.Millisecond)
	if n, err := srv.Command("DBSIZE"); err != nil || n != "0" {
		t.Fatalf("DBSIZE %q %v after the buckets refilled, want 0", n, err)
	}
}

// A peek (cost 0) takes nothing and keeps no key; a cost above one takes
// that many or none, as the memory limiter does.
func TestRedisPeekAndCost(t *testing.T) {
	srv := startRedis(t)
	l := NewRedis(openRedis(t, srv))
	ctx := context.Background()
	limit := authz.Limit{Rate: 1, Burst: 3}
	failures := authz.LimitKey{Endpoint: "ep", Scope: authz.LimitFailures, Source: src1}
	steps := []struct {
		cost       int
		allowed    bool
		remaining  int
		retryAfter time.Duration // about; the server's clock runs
	}{
		{0, true, 3, 0},
		{0, true, 3, 0},
		{2, true, 1, 0},
		{2, false, 1, time.Second},
		{1, true, 0, 0},
		{0, false, 0, time.Second},
	}
	for i, s := range steps {
		res, err := l.Take(ctx, failures, limit, s.cost, time.Time{})
		if err != nil || res.Allowed != s.allowed || res.Remaining != s.remaining ||
			res.RetryAfter > s.retryAfter || res.RetryAfter < s.retryAfter-200*time.Millisecond {
			t.Fatalf("step %d (cost %d): %+v %v, want allowed %v remaining %d retry after about %v",
				i, s.cost, res, err, s.allowed, s.remaining, s.retryAfter)
		}
		if i == 1 {
			if n, _ := srv.Command("DBSIZE"); n != "0" {
				t.Fatalf("a peek kept %s keys", n)
			}
		}
	}
	// A rate so high that a token is less than the clock's resolution
	// still expires its key.
	if res, err := l.Take(ctx, authz.LimitKey{Endpoint: "fast", Scope: authz.LimitEndpoint}, authz.Limit{Rate: 1e9, Burst: 1 << 30}, 1, time.Time{}); err != nil || !res.Allowed {
		t.Fatalf("rate 1e9/s: %+v %v", res, err)
	}
	for name, bad := range map[string]struct {
		key   authz.LimitKey
		limit authz.Limit
		cost  int
	}{
		"negative cost":         {failures, limit, -1},
		"rate 0":                {failures, authz.Limit{Rate: 0, Burst: 1}, 1},
		"source without source": {authz.LimitKey{Endpoint: "ep", Scope: authz.LimitSource}, limit, 1},
		"no scope":              {authz.LimitKey{Endpoint: "ep"}, limit, 1},
	} {
		if _, err := l.Take(ctx, bad.key, bad.limit, bad.cost, time.Time{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Replicas sharing one Redis share one bucket: concurrent takes from two
// clients admit exactly the burst, never more.
func TestRedisReplicasNeverOverAdmit(t *testing.T) {
	srv := startRedis(t)
	replicas := []*Redis{NewRedis(openRedis(t, srv)), NewRedis(openRedis(t, srv))}
	limit := authz.Limit{Rate: 1.0 / 3600, Burst: 20}
	key := authz.LimitKey{Endpoint: "ep", Scope: authz.LimitEndpoint}
	var allowed, denied atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				res, err := replicas[g%2].Take(context.Background(), key, limit, 1, time.Time{})
				switch {
				case err != nil:
					t.Error(err)
				case res.Allowed:
					allowed.Add(1)
				default:
					denied.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 20 || denied.Load() != 140 {
		t.Fatalf("allowed %d, denied %d of 160; want exactly 20 allowed", allowed.Load(), denied.Load())
	}
}

// Redis down: Take fails within the operation timeout, so the check is
// answered 503; once Redis is back, Take works again with the same client.
func TestRedisOutage(t *testing.T) {
	srv := startRedis(t)
	r, err := state.OpenRedis(state.RedisConfig{URL: srv.URL(), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l := NewRedis(r)
	ctx := context.Background()
	limit := authz.Limit{Rate: 100, Burst: 100}
	key := authz.LimitKey{Endpoint: "ep", Scope: authz.LimitEndpoint}
	if _, err := l.Take(ctx, key, limit, 1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for i := 0; i < 20; i++ {
		start := time.Now()
		res, err := l.Take(ctx, key, limit, 1, time.Time{})
		if err == nil || res.Allowed {
			t.Fatalf("take %d with Redis down: %+v %v, want an error", i, res, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("take %d took %v with Redis down; the timeout is 50ms", i, d)
		}
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := l.Take(ctx, key, limit, 1, time.Time{})
		if err == nil && res.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Take still failing 5s after Redis restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisBytesPerBucket measures what one source's bucket costs in Redis
// (INFO memory, used_memory), the figure docs/deploy.md sizes Redis with.
func TestRedisBytesPerBucket(t *testing.T) {
	srv := startRedis(t)
	l := NewRedis(openRedis(t, srv))
	used := func() int {
		v, err := srv.Info("memory", "used_memory")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	const n = 20000
	limit := authz.Limit{Rate: 1.0 / 3600, Burst: 10}
	before := used()
	for i := uint32(0); i < n; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		key := authz.LimitKey{Endpoint: "github", Scope: authz.LimitSource, Source: netip.PrefixFrom(a, 32)}
		if res, err := l.Take(context.Background(), key, limit, 1, time.Time{}); err != nil || !res.Allowed {
			t.Fatal(res, err)
		}
	}
	per := float64(used()-before) / n
	t.Logf("%.0f bytes per rate-limit bucket (one key, with TTL)", per)
	if per < 50 || per > 300 {
		t.Fatalf("%.0f bytes per bucket: outside the 50..300 the deployment guide assumes", per)
	}
}
