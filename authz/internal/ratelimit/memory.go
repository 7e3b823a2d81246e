// Package ratelimit holds the limiters that keep hookguard's token buckets.
// Memory is the default, for a single replica.
package ratelimit

import (
	"context"
	"fmt"
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
// golang.org/x/time/rate. Each endpoint has its own bucket and an LRU of
// sources, bounded by Limit.MaxKeys, each entry holding that source's
// request bucket and failure budget. A spray of distinct sources therefore
// costs bounded memory; it evicts the least recently seen sources, whose
// buckets start full again if they come back, which is why an
// endpoint-wide bucket is the guard against a distributed flood.
type Memory struct {
	mu        sync.Mutex
	endpoints map[string]*endpointBuckets
}

// endpointBuckets are one endpoint's buckets.
type endpointBuckets struct {
	mu      sync.Mutex
	own     *rate.Limiter
	sources *lru.Cache[netip.Prefix, sourceBuckets]
	maxKeys int
}

// sourceBuckets are one source's buckets on an endpoint, held by value in
// the LRU so a source costs no allocation of its own. Each is nil until a
// token is first taken from it: most sources never fail a verification,
// and a source that only ever fails needs no request bucket on an endpoint
// limited per endpoint.
type sourceBuckets struct {
	requests, failures *rate.Limiter
}

// NewMemory returns an empty Memory limiter.
func NewMemory() *Memory {
	return &Memory{endpoints: map[string]*endpointBuckets{}}
}

// Take takes cost tokens from key's bucket at now, or peeks at it when cost
// is 0; a peek keeps no bucket for a source not yet seen.
func (m *Memory) Take(_ context.Context, key authz.LimitKey, limit authz.Limit, cost int, now time.Time) (authz.LimitResult, error) {
	if cost < 0 {
		return authz.LimitResult{}, fmt.Errorf("negative cost %d", cost)
	}
	eb := m.endpoint(key.Endpoint)
	eb.mu.Lock()
	defer eb.mu.Unlock()
	var b *rate.Limiter
	switch key.Scope {
	case authz.LimitEndpoint:
		if eb.own == nil && cost > 0 {
			eb.own = rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst)
		}
		b = eb.own
	case authz.LimitSource, authz.LimitFailures:
		if !key.Source.IsValid() {
			return authz.LimitResult{}, fmt.Errorf("%s bucket without a source", key.Scope)
		}
		eb.resize(limit.MaxKeys)
		sb, _ := eb.sources.Get(key.Source)
		slot := &sb.requests
		if key.Scope == authz.LimitFailures {
			slot = &sb.failures
		}
		if *slot == nil && cost > 0 {
			*slot = rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst)
			eb.sources.Add(key.Source, sb)
		}
		b = *slot
	default:
		return authz.LimitResult{}, fmt.Errorf("unknown bucket scope %s", key.Scope)
	}
	if b == nil { // a peek at a bucket not kept
		return full(limit), nil
	}
	return take(b, limit, cost, now), nil
}

// full is what a peek at a bucket not kept yet sees.
func full(limit authz.Limit) authz.LimitResult {
	return authz.LimitResult{Allowed: limit.Burst >= 1, Remaining: limit.Burst}
}

// take takes cost tokens from b, or peeks when cost is 0, reshaping it first
// if the limit changed.
func take(b *rate.Limiter, limit authz.Limit, cost int, now time.Time) authz.LimitResult {
	if b.Limit() != rate.Limit(limit.Rate) {
		b.SetLimitAt(now, rate.Limit(limit.Rate))
	}
	if b.Burst() != limit.Burst {
		b.SetBurstAt(now, limit.Burst)
	}
	if cost == 0 && b.TokensAt(now) >= 1 || cost > 0 && b.AllowN(now, cost) {
		return authz.LimitResult{Allowed: true, Remaining: int(math.Floor(b.TokensAt(now)))}
	}
	// Time until the tokens asked for (one, for a peek) are back.
	tokens := b.TokensAt(now)
	missing := float64(max(cost, 1)) - tokens
	wait := time.Duration(missing / limit.Rate * float64(time.Second))
	return authz.LimitResult{Remaining: int(math.Floor(max(tokens, 0))), RetryAfter: wait}
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

// resize makes the source LRU hold at most maxKeys sources.
func (eb *endpointBuckets) resize(maxKeys int) {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if eb.sources == nil {
		eb.sources, _ = lru.New[netip.Prefix, sourceBuckets](maxKeys)
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

// Keys returns the number of sources whose buckets are held for endpoint.
func (m *Memory) Keys(endpoint string) int {
	eb := m.endpoint(endpoint)
	eb.mu.Lock()
	defer eb.mu.Unlock()
	if eb.sources == nil {
		return 0
	}
	return eb.sources.Len()
}
