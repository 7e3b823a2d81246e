package state_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/internal/state"
	"github.com/hookguard/hookguard/authz/verify"
	"github.com/hookguard/hookguard/e2e/stack"
)

// roundTrips counts the commands a client sends, each one round trip (no
// pipelines are used).
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkCheckRedis is one decision on a fresh, validly signed GitHub
// delivery (4 KiB) with its state in a real redis-server on loopback:
// replay protection only (one round trip: SET NX), and with a rate limit
// per source and per endpoint plus a failure budget (a peek at the
// failure budget, a token from the source's bucket, one from the
// endpoint's, then the nonce: four round trips, one per bucket). The
// memory cases are the same decisions on in-process state, for scale.
func BenchmarkCheckRedis(b *testing.B) {
	srv, err := stack.StartRedis(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	r, err := state.OpenRedis(state.RedisConfig{URL: srv.URL(), Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	trips := &roundTrips{}
	r.Client().AddHook(trips)

	// One PING: the loopback round trip the cases below pay per bucket
	// and per nonce, for scale on a loaded machine.
	b.Run("redis/ping", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Client().Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})

	secret := authz.Secret("bench-secret")
	limit := &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 1e9, Burst: 1 << 30}, PerSource: true, PerEndpoint: true,
		Failures: &authz.Limit{Rate: 1, Burst: 10}}
	for _, tc := range []struct {
		name    string
		nonces  authz.NonceStore
		limiter authz.Limiter
		limit   *authz.RateLimitPolicy
	}{
		{"redis/replay", replay.NewRedis(r), ratelimit.NewRedis(r), nil},
		{"redis/replay+ratelimit", replay.NewRedis(r), ratelimit.NewRedis(r), limit},
		{"memory/replay", replay.NewMemory(replay.MemoryConfig{Capacity: 1 << 20}), ratelimit.NewMemory(), nil},
		{"memory/replay+ratelimit", replay.NewMemory(replay.MemoryConfig{Capacity: 1 << 20}), ratelimit.NewMemory(), limit},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := authz.NewPolicy("bench", []*authz.Endpoint{{
				Name: "github", Match: authz.Match{PathPrefix: "/webhooks/github"},
				Verifier: verify.NewGitHub([]authz.Secret{secret}), ReplayTTL: time.Hour, RateLimit: tc.limit,
			}})
			if err != nil {
				b.Fatal(err)
			}
			a := authz.NewAuthorizer(authz.Config{Nonces: tc.nonces, Limiter: tc.limiter})
			a.SetPolicy(p)
			// b.N distinct deliveries, signed before the clock starts.
			reqs := make([]*authz.Request, b.N)
			run := strconv.FormatInt(time.Now().UnixNano(), 36)
			for i := range reqs {
				body := make([]byte, 4096)
				copy(body, `{"run":"`+run+`","n":`+strconv.Itoa(i)+`,"pad":"`)
				for j := 48; j < len(body)-2; j++ {
					body[j] = 'x'
				}
				copy(body[len(body)-2:], `"}`)
				m := hmac.New(sha256.New, secret)
				m.Write(body)
				reqs[i] = &authz.Request{Method: "POST", Scheme: "https", Host: "hooks.example.com", Path: "/webhooks/github",
					Header: authz.Header{"x-hub-signature-256": "sha256=" + hex.EncodeToString(m.Sum(nil)),
						"content-type": "application/json", "content-length": strconv.Itoa(len(body))},
					Body: body, ID: "bench", Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 4000)}
			}
			ctx := context.Background()
			before := trips.n.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if d := a.Check(ctx, reqs[i]); d.Reason != authz.OK {
					b.Fatalf("delivery %d: %s %s", i, d.Reason, d.Detail)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(trips.n.Load()-before)/float64(b.N), "roundtrips/op")
		})
	}
}
