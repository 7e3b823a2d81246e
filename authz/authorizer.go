package authz

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"
)

// RetryAfterUnavailable is the Retry-After, in seconds, sent with
// [Unavailable]: long enough for a restart or a reload, short enough that
// providers retrying with backoff lose nothing.
const RetryAfterUnavailable = 5

// Authorizer decides requests against the current policy snapshot. It is
// safe for concurrent use; SetPolicy swaps the snapshot atomically, and a
// request in flight finishes on the snapshot it started with.
type Authorizer struct {
	policy  atomic.Pointer[Policy]
	nonces  NonceStore
	limiter Limiter
	clock   Clock
}

// Config holds what an Authorizer reaches the outside world through. Every
// field is optional: a nil field has the documented default, and a
// dependency that is missing fails closed rather than letting requests
// through unchecked.
type Config struct {
	// Nonces remembers deliveries for replay protection. If nil, requests
	// to an endpoint with replay protection are denied with [Unavailable].
	Nonces NonceStore
	// Limiter keeps the rate-limit buckets. If nil, requests to an
	// endpoint with a rate limit are denied with [Unavailable].
	Limiter Limiter
	// Clock tells the time for signed timestamps and rate limits. If nil,
	// the system clock.
	Clock Clock
}

// NewAuthorizer returns an Authorizer configured by c. It denies everything
// with [Unavailable] until SetPolicy is called.
func NewAuthorizer(c Config) *Authorizer {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return &Authorizer{nonces: c.Nonces, limiter: c.Limiter, clock: c.Clock}
}

// SetPolicy makes p the policy for every request that starts from now on.
func (a *Authorizer) SetPolicy(p *Policy) { a.policy.Store(p) }

// Policy returns the current policy, or nil before the first SetPolicy.
func (a *Authorizer) Policy() *Policy { return a.policy.Load() }

// Check decides r. It never fails: anything that prevents a decision is a
// denial with [Unavailable].
func (a *Authorizer) Check(ctx context.Context, r *Request) Decision {
	p := a.policy.Load()
	if p == nil {
		d := deny(nil, Unavailable, "no policy loaded")
		d.RequestID = r.ID
		return d
	}
	e, reason, detail := p.selectEndpoint(r)
	var d Decision
	if e == nil {
		d = deny(nil, reason, detail)
	} else {
		d = a.checkEndpoint(ctx, e, r, reason, detail)
	}
	d.RequestID = r.ID
	d.Revision = p.revision
	if e != nil && e.DryRun {
		d.DryRun = true
		if d.Outcome() == OutcomeDeny {
			// It goes upstream (Decision.Answer) identified by endpoint,
			// but never marked verified and without the unverified
			// delivery id.
			d.SetHeaders, d.RemoveHeaders = e.allowHeaders(r, "", false)
		}
	}
	return d
}

// checkEndpoint runs the stages for a selected endpoint, cheapest first:
// who sends (source, client identity) and how much (the source's rate and
// failure budgets) before any cryptography, so a flood is cut cheaply; then
// the signature; then the endpoint's shared budget, which only verified
// deliveries draw from, so forgeries cannot spend it; then the payload, so
// an unauthenticated sender learns nothing of its rules; and the nonce last.
func (a *Authorizer) checkEndpoint(ctx context.Context, e *endpoint, r *Request, selected Reason, detail string) Decision {
	if selected != OK {
		return deny(e, selected, detail)
	}
	if e.Source != nil {
		if err := e.Source.check(r.Source.Addr()); err != nil {
			return denyErr(e, err)
		}
	}
	if e.Identity != nil {
		if err := e.Identity.check(r); err != nil {
			return denyErr(e, err)
		}
	}
	now := a.clock.Now()
	if e.RateLimit != nil {
		if d, limited := a.limitUnverified(ctx, e, r, now); limited {
			return d
		}
	}
	if r.BodyTruncated {
		return deny(e, BodyTruncated, "")
	}
	if reason, detail := checkBodyForwarded(r); reason != OK {
		return deny(e, reason, detail)
	}
	if hs, ok := e.Verifier.(Handshaker); ok && e.Handshakes {
		resp, err := hs.Handshake(r, now)
		if err != nil {
			return a.failed(ctx, e, r, now, denyErr(e, err))
		}
		if resp != nil {
			d := deny(e, Handshake, "")
			d.Response = resp
			return d
		}
	}
	v, err := e.Verifier.Verify(r, now)
	if err != nil {
		d := denyErr(e, err)
		d.DeliveryID = v.DeliveryID
		return a.failed(ctx, e, r, now, d)
	}
	// The endpoint's budget is charged here: after the signature, so only
	// a sender holding the secret can spend it (a handshake hookguard
	// answered is no delivery and is not charged); before the payload, so
	// a verified sender's malformed deliveries, which cost their parsing,
	// count; and before the nonce, since a delivery denied after its nonce
	// was remembered would be refused as a replay when the provider
	// retries it. A replayed capture therefore spends budget too; a source
	// bucket bounds what one address can spend that way.
	if rl := e.RateLimit; rl != nil && rl.PerEndpoint {
		if d, limited := a.take(ctx, e, LimitKey{Endpoint: e.Name, Scope: LimitEndpoint}, rl.Limit, 1, now); limited {
			d.DeliveryID = v.DeliveryID
			return d
		}
	}
	if e.Payload != nil {
		if err := e.Payload.check(r); err != nil {
			d := denyErr(e, err)
			d.DeliveryID = v.DeliveryID
			return d
		}
	}
	// Last, and only for a request that passed everything else: remember
	// the delivery, so unauthenticated traffic cannot fill the cache.
	var claim *Nonces
	if e.ReplayTTL > 0 && v.ReplayKey != nil {
		if a.nonces == nil {
			d := deny(e, Unavailable, "replay protection configured but no nonce store")
			d.DeliveryID = v.DeliveryID
			return d
		}
		claim = &Nonces{Endpoint: e.Name, Keys: make([]NonceKey, 1, 1+len(v.MoreReplayKeys)), TTL: e.ReplayTTL, Capacity: e.ReplayCapacity, OnFull: e.ReplayOnFull, Token: NewNonceToken()}
		claim.Keys[0] = NewNonceKey(e.Name, v.ReplayKey)
		for _, k := range v.MoreReplayKeys {
			claim.Keys = append(claim.Keys, NewNonceKey(e.Name, k))
		}
		fresh, err := a.nonces.Remember(ctx, *claim)
		if err != nil {
			d := deny(e, Unavailable, "nonce store: "+err.Error())
			var full *ShareFullError
			if errors.As(err, &full) {
				d.RetryAfterSeconds = max(1, int(math.Ceil(full.RetryAfter.Seconds())))
			}
			d.DeliveryID = v.DeliveryID
			return d
		}
		if !fresh {
			d := deny(e, Replayed, "")
			d.DeliveryID = v.DeliveryID
			return d
		}
	}
	d := Decision{
		Reason:     OK,
		Endpoint:   e.Name,
		Scheme:     e.Verifier.Scheme(),
		Verified:   true,
		DeliveryID: v.DeliveryID,
		Nonce:      claim,
	}
	d.SetHeaders, d.RemoveHeaders = e.allowHeaders(r, v.DeliveryID, true)
	return d
}

// limitUnverified applies the budgets that run before any cryptography:
// a source whose failure budget is empty is refused without taking
// anything, so a prober is cut off at the cost of a look-up; then the
// request takes a token from its source's bucket. limited is true when the
// request must be denied: over a budget (429), or the limiter failed (503).
func (a *Authorizer) limitUnverified(ctx context.Context, e *endpoint, r *Request, now time.Time) (d Decision, limited bool) {
	if a.limiter == nil {
		return deny(e, Unavailable, "rate limit configured but no limiter"), true
	}
	rl := e.RateLimit
	if !rl.PerSource && rl.Failures == nil {
		return Decision{}, false
	}
	src := sourcePrefix(r.Source)
	if rl.Failures != nil {
		// A peek, not a reservation: the source's requests in flight at
		// once may all pass it before the first failure is counted,
		// which is what keeps the check one cheap step. The source
		// bucket and the proxy's stream limits bound them.
		if d, limited := a.take(ctx, e, LimitKey{Endpoint: e.Name, Scope: LimitFailures, Source: src}, *rl.Failures, 0, now); limited {
			return d, true
		}
	}
	if rl.PerSource {
		return a.take(ctx, e, LimitKey{Endpoint: e.Name, Scope: LimitSource, Source: src}, rl.Limit, 1, now)
	}
	return Decision{}, false
}

// take takes cost tokens from key's bucket. limited is true when the request
// must be denied: the bucket lacks them (429, naming the scope), or the
// limiter failed (503).
func (a *Authorizer) take(ctx context.Context, e *endpoint, key LimitKey, l Limit, cost int, now time.Time) (d Decision, limited bool) {
	if a.limiter == nil {
		return deny(e, Unavailable, "rate limit configured but no limiter"), true
	}
	res, err := a.limiter.Take(ctx, key, l, cost, now)
	if err != nil {
		return deny(e, Unavailable, "rate limiter: "+err.Error()), true
	}
	if res.Allowed {
		return Decision{}, false
	}
	d = deny(e, RateLimited, "over the "+key.Scope.String()+" budget")
	d.RetryAfterSeconds, d.ResponseHeaders = limitHeaders(key.Scope, l, res)
	return d, true
}

// failed charges the failed verification d to its source's failure budget
// and returns d. The denial stands whatever the limiter answers: a limiter
// that fails only leaves a note in the detail, since the request is denied
// anyway.
func (a *Authorizer) failed(ctx context.Context, e *endpoint, r *Request, now time.Time, d Decision) Decision {
	rl := e.RateLimit
	if rl == nil || rl.Failures == nil || a.limiter == nil || !isVerificationFailure(d.Reason) {
		return d
	}
	key := LimitKey{Endpoint: e.Name, Scope: LimitFailures, Source: sourcePrefix(r.Source)}
	if _, err := a.limiter.Take(ctx, key, *rl.Failures, 1, now); err != nil {
		if d.Detail != "" {
			d.Detail += "; "
		}
		d.Detail += "failure not counted: rate limiter: " + err.Error()
	}
	return d
}

// allowHeaders plans the upstream header changes for an allowed request: the
// x-hookguard-* headers set with overwrite, every other incoming
// x-hookguard-* header removed, then the policy's changes.
func (e *endpoint) allowHeaders(r *Request, deliveryID string, verified bool) (set []HeaderValue, remove []string) {
	set = make([]HeaderValue, 0, len(e.setHeaders)+2)
	set = append(set, e.setHeaders[0]) // x-hookguard-endpoint
	if verified {
		set = append(set, HeaderValue{HeaderVerified, e.Verifier.Scheme()})
	}
	if deliveryID != "" {
		set = append(set, HeaderValue{HeaderDeliveryID, deliveryID})
	}
	set = append(set, e.setHeaders[1:]...)

	remove = e.removeHeaders
	extra := 0
	for name := range r.Header {
		if isTrustHeader(name) && !setsHeader(set, name) {
			extra++
		}
	}
	if extra == 0 {
		return set, remove
	}
	remove = append(make([]string, 0, len(remove)+extra), remove...)
	for name := range r.Header {
		if isTrustHeader(name) && !setsHeader(set, name) {
			remove = append(remove, name)
		}
	}
	return set, remove
}

// isTrustHeader reports whether a request header passes for one of
// hookguard's own: its lower-case name starts with [HeaderPrefix] when
// every "_" is read as "-". CGI, WSGI and many frameworks turn both
// spellings into the same variable (HTTP_X_HOOKGUARD_VERIFIED), so a
// sender's x_hookguard_verified must go as surely as x-hookguard-verified.
func isTrustHeader(name string) bool {
	if len(name) < len(HeaderPrefix) {
		return false
	}
	for i := 0; i < len(HeaderPrefix); i++ {
		c := name[i]
		if c == '_' {
			c = '-'
		}
		if c != HeaderPrefix[i] {
			return false
		}
	}
	return true
}

func setsHeader(set []HeaderValue, name string) bool {
	for _, h := range set {
		if h.Name == name {
			return true
		}
	}
	return false
}

// denyErr denies with the reason err carries and its detail; a payload error
// also gives its JSON pointer.
func denyErr(e *endpoint, err error) Decision {
	d := deny(e, ReasonOf(err), detail(err))
	if pe, ok := errors.AsType[*PayloadError](err); ok {
		d.Pointer = pe.Pointer
	}
	return d
}

func deny(e *endpoint, reason Reason, detail string) Decision {
	d := Decision{Reason: reason, Detail: detail}
	if e != nil {
		d.Endpoint = e.Name
		d.Scheme = e.Verifier.Scheme()
	}
	if reason == Unavailable {
		d.RetryAfterSeconds = RetryAfterUnavailable
	}
	return d
}

// detail is the log detail of a verification error: its text without the
// bare reason, which the decision already carries.
func detail(err error) string {
	if r, ok := errors.AsType[Reason](err); ok && err.Error() == string(r) {
		return ""
	}
	return err.Error()
}
