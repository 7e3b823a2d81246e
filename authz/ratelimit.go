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

// LimitScope is what a bucket counts. Its String is the scope's name in the
// RateLimit headers of a denial.
type LimitScope uint8

// The scopes of rate-limit buckets. The first two are per source, kept in
// the endpoint's bounded set of source buckets; the endpoint's is one
// bucket shared by every source.
const (
	// LimitSource counts one source's requests, before the signature is
	// verified.
	LimitSource LimitScope = iota + 1
	// LimitFailures counts one source's failed verifications.
	LimitFailures
	// LimitEndpoint counts the endpoint's deliveries whose signature
	// verified, from every source.
	LimitEndpoint
)

// String returns "source", "failures" or "endpoint".
func (s LimitScope) String() string {
	switch s {
	case LimitSource:
		return "source"
	case LimitFailures:
		return "failures"
	case LimitEndpoint:
		return "endpoint"
	}
	return "scope(" + strconv.Itoa(int(s)) + ")"
}

// LimitKey names one bucket: an endpoint's own, or one of a source's on an
// endpoint.
type LimitKey struct {
	// Endpoint is the endpoint's name.
	Endpoint string
	// Scope is what the bucket counts.
	Scope LimitScope
	// Source is the source's prefix (a /32 for IPv4, a /64 for IPv6) for
	// the per-source scopes, and the zero Prefix for [LimitEndpoint].
	Source netip.Prefix
}

// LimitResult is the outcome of taking tokens.
type LimitResult struct {
	// Allowed says whether the tokens were taken (for a peek, whether one
	// is there).
	Allowed bool
	// Remaining is the number of whole tokens left.
	Remaining int
	// RetryAfter, when not allowed, is the time until enough tokens are
	// back.
	RetryAfter time.Duration
}

// A Limiter keeps token buckets. Implementations must be safe for concurrent
// use and bound the memory they hold (see Limit.MaxKeys).
//
// Each call touches one bucket and is one atomic step, so a shared store can
// answer it in one round trip with one server-side script.
type Limiter interface {
	// Take takes cost tokens from the bucket key, shaped by limit, at now,
	// if the bucket holds that many, and takes nothing otherwise. A cost of
	// 0 is a peek: nothing is taken, and Allowed says whether one whole
	// token is there. A bucket never taken from is full; a peek need not
	// keep one. A changed limit (after a policy reload) applies to an
	// existing bucket from now on.
	Take(ctx context.Context, key LimitKey, limit Limit, cost int, now time.Time) (LimitResult, error)
}

// RateLimitPolicy is an endpoint's rate limit. Its budgets are charged at
// different points of a request, so that no sender can spend another's:
//
//   - before the signature is verified, a source whose failure budget is
//     empty is refused (a peek, which takes nothing), and then a request
//     takes a token from its source's bucket;
//   - a failed verification takes a token from its source's failure
//     budget;
//   - a verified delivery takes a token from the endpoint's bucket, before
//     its payload and nonce are checked.
type RateLimitPolicy struct {
	// Limit shapes the source and endpoint buckets.
	Limit Limit
	// PerSource keeps a bucket per source address; PerEndpoint one for the
	// whole endpoint, which only verified deliveries draw from. Both may be
	// set: a delivery needs a token from each.
	PerSource, PerEndpoint bool
	// Failures, if not nil, shapes each source's budget of failed
	// verifications ([SignatureMissing], [SignatureInvalid],
	// [TimestampOutOfWindow]).
	Failures *Limit
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

// isVerificationFailure reports whether a denial is a failed verification,
// which its source's failure budget pays for: what a prober without the
// secret gets. Replays, payload errors and gateway errors are not: a sender
// that holds the secret, or the gateway, caused them.
func isVerificationFailure(r Reason) bool {
	return r == SignatureMissing || r == SignatureInvalid || r == TimestampOutOfWindow
}

// limitHeaders are the headers of a rate_limited denial: Retry-After, and
// the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers): quota q per window w seconds,
// remaining r, reset in t seconds, under the name of the scope that denied.
func limitHeaders(scope LimitScope, l Limit, res LimitResult) (retryAfter int, headers []HeaderValue) {
	retryAfter = int(math.Ceil(res.RetryAfter.Seconds()))
	if retryAfter < 1 {
		retryAfter = 1
	}
	window := int(math.Ceil(float64(l.Burst) / l.Rate))
	if window < 1 {
		window = 1
	}
	name := strconv.Quote(scope.String())
	return retryAfter, []HeaderValue{
		{"ratelimit-policy", name + ";q=" + strconv.Itoa(l.Burst) + ";w=" + strconv.Itoa(window)},
		{"ratelimit", name + ";r=" + strconv.Itoa(res.Remaining) + ";t=" + strconv.Itoa(retryAfter)},
	}
}
