package ratelimit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/state"
)

// gcra takes cost tokens from one bucket, atomically on the server, with
// the generic cell rate algorithm: the bucket is one number, its theoretical
// arrival time (TAT), the instant at which it would be full again, in
// microseconds of the server's clock. Taking n tokens moves the TAT n
// intervals (1/rate) later, and is allowed while the TAT stays within burst
// intervals of now. The key expires when the bucket is full again, so an
// idle bucket costs nothing. A cost of 0 is a peek: it writes nothing.
//
// The server's clock (TIME) is the one clock of every replica, so replicas
// with skewed clocks still share one rate. Scripts that write after TIME
// are replicated by their effects (the default since Redis 5).
//
// KEYS[1]: the bucket. ARGV: interval (µs, may be fractional), burst, cost.
// Reply: {allowed (0/1), whole tokens remaining, µs until enough are back}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local span = burst * interval
local need = cost
if need < 1 then need = 1 end
local allow_at = tat + need * interval - span
if now < allow_at then
  local left = math.floor((span - (tat - now)) / interval + 1e-9)
  if left < 0 then left = 0 end
  return {0, left, math.ceil(allow_at - now)}
end
if cost == 0 then
  return {1, math.floor((span - (tat - now)) / interval + 1e-9), 0}
end
local after = tat + cost * interval
local px = math.ceil((after - now) / 1000)
if px < 1 then px = 1 end
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', px)
return {1, math.floor((span - (after - now)) / interval + 1e-9), 0}
`)

// Redis is an authz.Limiter whose buckets live in Redis, shared by every
// replica: each Take is one script call (one round trip), atomic on the
// server, so concurrent replicas never take the same token twice.
//
// Memory is bounded by time, not by Limit.MaxKeys: a bucket's key expires
// once the bucket would be full again (at most burst/rate after its last
// token was taken), so Redis holds one key per source active within that
// window. Size Redis for it (docs/deploy.md).
type Redis struct {
	r *state.Redis
}

// NewRedis returns a limiter on r.
func NewRedis(r *state.Redis) *Redis { return &Redis{r: r} }

// bucketKind is the key kind of limiter buckets (see state.Redis.Key).
const bucketKind = 'l'

// Take takes cost tokens from key's bucket, or peeks when cost is 0 (see
// authz.Limiter). now is not used: the Redis server's clock is the one
// every replica shares.
func (l *Redis) Take(ctx context.Context, key authz.LimitKey, limit authz.Limit, cost int, _ time.Time) (authz.LimitResult, error) {
	switch key.Scope {
	case authz.LimitEndpoint:
	case authz.LimitSource, authz.LimitFailures:
		if !key.Source.IsValid() {
			return authz.LimitResult{}, fmt.Errorf("%s bucket without a source", key.Scope)
		}
	default:
		return authz.LimitResult{}, fmt.Errorf("unknown bucket scope %s", key.Scope)
	}
	return l.take(ctx, key, limit, cost)
}

func (l *Redis) take(ctx context.Context, key authz.LimitKey, limit authz.Limit, cost int) (authz.LimitResult, error) {
	if cost < 0 {
		return authz.LimitResult{}, fmt.Errorf("negative cost %d", cost)
	}
	if !(limit.Rate > 0) || math.IsInf(limit.Rate, 0) || limit.Burst < 0 {
		return authz.LimitResult{}, fmt.Errorf("limit %v/s burst %d cannot be kept", limit.Rate, limit.Burst)
	}
	digest := bucketDigest(key)
	k := l.r.Key(bucketKind, state.EndpointTag(key.Endpoint), &digest)
	interval := strconv.FormatFloat(1e6/limit.Rate, 'g', -1, 64)
	var reply []int64
	err := l.r.Do(ctx, "take", func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		reply, err = gcra.Run(ctx, c, []string{k}, interval, limit.Burst, cost).Int64Slice()
		return err
	})
	if err != nil {
		return authz.LimitResult{}, err
	}
	if len(reply) != 3 {
		return authz.LimitResult{}, fmt.Errorf("redis take: script answered %d values", len(reply))
	}
	return authz.LimitResult{
		Allowed:    reply[0] == 1,
		Remaining:  int(reply[1]),
		RetryAfter: time.Duration(reply[2]) * time.Microsecond,
	}, nil
}

// bucketDigest names a bucket with a fixed-size digest of its scope,
// endpoint (length-prefixed, so no two endpoint and source pairs collide)
// and source prefix.
func bucketDigest(key authz.LimitKey) [sha256.Size]byte {
	var buf [128]byte
	b := append(buf[:0], byte(key.Scope), byte(len(key.Endpoint)>>8), byte(len(key.Endpoint)))
	b = append(b, key.Endpoint...)
	if key.Source.IsValid() {
		a := key.Source.Addr().As16()
		b = append(b, a[:]...)
		b = append(b, byte(key.Source.Bits()))
	}
	return sha256.Sum256(b)
}
