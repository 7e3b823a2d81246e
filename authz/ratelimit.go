package authz

import (
	"context"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// Limit is the shape of a token bucket.
type Limit struct {
	// Rate is the refill rate, in tokens per second.
	Rate float64
	// Burst is the bucket size: requests allowed at once.
	Burst int
	// MaxKeys bounds the per-source buckets kept for one endpoint.
	MaxKeys int
}

// LimitKey names one bucket: an endpoint's own, or one source's on an
// endpoint.
type LimitKey struct {
	// Endpoint is the endpoint's name.
	Endpoint string
	// Source is the source's prefix (a /32 for IPv4, a /64 for IPv6), or
	// the zero Prefix for the endpoint's own bucket.
	Source netip.Prefix
}

// LimitResult is the outcome of taking a token.
type LimitResult struct {
	// Allowed says whether a token was taken.
	Allowed bool
	// Remaining is the number of whole tokens left.
	Remaining int
	// RetryAfter, when not allowed, is the time until a token is back.
	RetryAfter time.Duration
}

// A Limiter keeps token buckets. Implementations must be safe for concurrent
// use and bound the memory they hold (see Limit.MaxKeys).
type Limiter interface {
	// Take takes one token from the bucket key, shaped by limit, at now.
	Take(ctx context.Context, key LimitKey, limit Limit, now time.Time) (LimitResult, error)
}

// RateLimitPolicy is an endpoint's rate limit.
type RateLimitPolicy struct {
	Limit Limit
	// PerSource keeps a bucket per source address; PerEndpoint one for the
	// whole endpoint. Both may be set: a request needs a token from each.
	PerSource, PerEndpoint bool
}

// sourcePrefix is the bucket prefix of a source: IPv6 hosts are grouped by
// /64, the block a single subscriber usually holds, so one host cannot mint
// 2^64 buckets. An unknown source shares one bucket with every other
// unknown source.
func sourcePrefix(src netip.AddrPort) netip.Prefix {
	addr := src.Addr().Unmap()
	if !addr.IsValid() {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}

// limitHeaders are the headers of a rate_limited denial: Retry-After, and
// the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers): quota q per window w seconds,
// remaining r, reset in t seconds.
func limitHeaders(scope string, l Limit, res LimitResult) (retryAfter int, headers []HeaderValue) {
	retryAfter = int(math.Ceil(res.RetryAfter.Seconds()))
	if retryAfter < 1 {
		retryAfter = 1
	}
	window := int(math.Ceil(float64(l.Burst) / l.Rate))
	if window < 1 {
		window = 1
	}
	name := strconv.Quote(scope)
	return retryAfter, []HeaderValue{
		{"ratelimit-policy", name + ";q=" + strconv.Itoa(l.Burst) + ";w=" + strconv.Itoa(window)},
		{"ratelimit", name + ";r=" + strconv.Itoa(res.Remaining) + ";t=" + strconv.Itoa(retryAfter)},
	}
}
