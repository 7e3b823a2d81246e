package state_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/internal/state"
	"github.com/hookguard/hookguard/e2e/stack"
)

// While Redis is down, only an endpoint with state_fallback: local is
// decided, on local state, and each such decision is counted; the others
// get the error (answered 503).
func TestFallbackOnlyWhereAllowed(t *testing.T) {
	srv, err := stack.StartRedis(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	reg := prometheus.NewRegistry()
	health := state.NewHealth("redis", zerolog.New(io.Discard), reg)
	r, err := state.OpenRedis(state.RedisConfig{URL: srv.URL(), Health: health})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	local := func(endpoint string) bool { return endpoint == "lenient" }
	nonces := &state.Nonces{Shared: replay.NewRedis(r), LocalStore: replay.NewMemory(replay.MemoryConfig{}), Local: local, Health: health}
	limiter := &state.Limiter{Shared: ratelimit.NewRedis(r), LocalLimiter: ratelimit.NewMemory(), Local: local, Health: health}
	ctx := context.Background()
	claim := func(endpoint string) authz.Nonces {
		return authz.Nonces{Endpoint: endpoint, Keys: []authz.NonceKey{authz.NewNonceKey(endpoint, []byte("d"))}, TTL: time.Minute, Token: authz.NewNonceToken()}
	}
	limit := authz.Limit{Rate: 1, Burst: 1}

	// Before the outage Redis decides, and the local store learns nothing.
	if fresh, err := nonces.Remember(ctx, claim("lenient")); !fresh || err != nil {
		t.Fatal(fresh, err)
	}
	srv.Stop()
	if fresh, err := nonces.Remember(ctx, claim("strict")); fresh || err == nil {
		t.Fatalf("strict endpoint during the outage: fresh %v err %v, want an error", fresh, err)
	}
	if res, err := limiter.Take(ctx, authz.LimitKey{Endpoint: "strict", Scope: authz.LimitEndpoint}, limit, 1, time.Now()); res.Allowed || err == nil {
		t.Fatalf("strict endpoint's limit during the outage: %+v %v, want an error", res, err)
	}
	// The lenient endpoint falls back: its delivery from before the outage
	// is unknown locally (the documented cost), a replay during it is not.
	first, err := nonces.Remember(ctx, claim("lenient"))
	second, err2 := nonces.Remember(ctx, claim("lenient"))
	if !first || second || err != nil || err2 != nil {
		t.Fatalf("lenient endpoint during the outage: %v %v, %v %v", first, err, second, err2)
	}
	res1, err := limiter.Take(ctx, authz.LimitKey{Endpoint: "lenient", Scope: authz.LimitEndpoint}, limit, 1, time.Now())
	res2, err2 := limiter.Take(ctx, authz.LimitKey{Endpoint: "lenient", Scope: authz.LimitEndpoint}, limit, 1, time.Now())
	if !res1.Allowed || res2.Allowed || err != nil || err2 != nil {
		t.Fatalf("lenient limit during the outage: %+v %v, %+v %v", res1, err, res2, err2)
	}
	if n := sumCounter(t, reg, "hookguard_state_fallback_total"); n != 4 {
		t.Fatalf("%v fallbacks counted, want 4", n)
	}
}

// sumCounter sums a counter's samples over all labels.
func sumCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
