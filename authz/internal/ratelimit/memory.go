// Package ratelimit holds the limiters that keep hookguard's token buckets.
// Memory is the default, for a single replica.
package ratelimit

import (
	"context"
	"math"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/hookguard/hookguard/authz"
)

// DefaultMaxKeys is the default bound on one endpoint's source buckets.
const DefaultMaxKeys = 100_000

// Memory is an in-memory authz.Limiter: token buckets from
// golang.org/x/time/rate, the per-source ones of each endpoint in an LRU
// bounded by Limit.MaxKeys. A spray of distinct sources therefore costs
// bounded memory; it evicts the least recently seen sources, whose buckets
// start full again if they come back, which is why an endpoint-wide bucket
// is the guard against a distributed flood.
type Memory struct {
	mu        sync.Mutex
	endpoints map[string]*endpointBuckets
}

// endpointBuckets are one endpoint's buckets.
type endpointBuckets struct {
	mu      sync.Mutex
	own     *rate.Limiter
	sources *lru.Cache[netip.Prefix, *rate.Limiter]
	maxKeys int
}

// NewMemory returns an empty Memory limiter.
func NewMemory() *Memory {
	return &Memory{endpoints: map[string]*endpointBuckets{}}
}

// Take takes a token from key's bucket at now. A changed limit (after a
// policy reload) applies to existing buckets from now on.
func (m *Memory) Take(_ context.Context, key authz.LimitKey, limit authz.Limit, now time.Time) (authz.LimitResult, error) {
	eb := m.endpoint(key.Endpoint)
	eb.mu.Lock()
	defer eb.mu.Unlock()
	var b *rate.Limiter
	if !key.Source.IsValid() {
		if eb.own == nil {
			eb.own = rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst)
		}
		b = eb.own
	} else {
		eb.resize(limit.MaxKeys)
		var ok bool
		if b, ok = eb.sources.Get(key.Source); !ok {
			b = rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst)
			eb.sources.Add(key.Source, b)
		}
	}
	return take(b, limit, now), nil
}

// take takes one token from b, reshaping it first if the limit changed.
func take(b *rate.Limiter, limit authz.Limit, now time.Time) authz.LimitResult {
	if b.Limit() != rate.Limit(limit.Rate) {
		b.SetLimitAt(now, rate.Limit(limit.Rate))
	}
	if b.Burst() != limit.Burst {
		b.SetBurstAt(now, limit.Burst)
	}
	if b.AllowN(now, 1) {
		return authz.LimitResult{Allowed: true, Remaining: int(math.Floor(b.TokensAt(now)))}
	}
	// Time until one whole token is back.
	missing := 1 - b.TokensAt(now)
	wait := time.Duration(missing / limit.Rate * float64(time.Second))
	return authz.LimitResult{RetryAfter: wait}
}

func (m *Memory) endpoint(name string) *endpointBuckets {
	m.mu.Lock()
	defer m.mu.Unlock()
	eb := m.endpoints[name]
	if eb == nil {
		eb = &endpointBuckets{}
		m.endpoints[name] = eb
	}
	return eb
}

// resize makes the source LRU hold at most maxKeys buckets.
func (eb *endpointBuckets) resize(maxKeys int) {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if eb.sources == nil {
		eb.sources, _ = lru.New[netip.Prefix, *rate.Limiter](maxKeys)
	} else if maxKeys != eb.maxKeys {
		eb.sources.Resize(maxKeys)
	}
	eb.maxKeys = maxKeys
}

// Retain drops the buckets of every endpoint for which keep is false, such
// as those a policy reload removed, returning their memory.
func (m *Memory) Retain(keep func(endpoint string) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.endpoints {
		if !keep(name) {
			delete(m.endpoints, name)
		}
	}
}

// Keys returns the number of source buckets held for endpoint.
func (m *Memory) Keys(endpoint string) int {
	eb := m.endpoint(endpoint)
	eb.mu.Lock()
	defer eb.mu.Unlock()
	if eb.sources == nil {
		return 0
	}
	return eb.sources.Len()
}
