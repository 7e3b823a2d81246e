package state

import (
	"context"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// Nonces is the nonce store of a replica with shared state: Shared
// decides, and when it fails, an endpoint that opted into local fallback
// (Local reports true for it) is decided by LocalStore instead of being
// answered 503. Every fallback is counted and logged through Health.
type Nonces struct {
	Shared, LocalStore authz.NonceStore
	// Local reports whether an endpoint has state_fallback: local.
	Local  func(endpoint string) bool
	Health *Health
}

// Remember asks Shared, and LocalStore when Shared fails and the endpoint
// allows it.
func (n *Nonces) Remember(ctx context.Context, c authz.Nonces) (bool, error) {
	fresh, err := n.Shared.Remember(ctx, c)
	if err == nil || !n.Local(c.Endpoint) {
		return fresh, err
	}
	n.Health.Fallback(c.Endpoint, "remember", err)
	return n.LocalStore.Remember(ctx, c)
}

// Forget forgets c in both stores: a claim made during an outage is in the
// local one.
func (n *Nonces) Forget(ctx context.Context, c authz.Nonces) error {
	err := n.Shared.Forget(ctx, c)
	if n.Local(c.Endpoint) {
		n.LocalStore.Forget(ctx, c)
	}
	return err
}

// Limiter is the limiter of a replica with shared state, falling back to
// LocalLimiter as Nonces does. During a fallback each replica limits on its
// own: the endpoint admits up to its rate times the number of replicas.
type Limiter struct {
	Shared, LocalLimiter authz.Limiter
	Local                func(endpoint string) bool
	Health               *Health
}

// Take asks Shared, and LocalLimiter when Shared fails and the endpoint
// allows it.
func (l *Limiter) Take(ctx context.Context, key authz.LimitKey, limit authz.Limit, cost int, now time.Time) (authz.LimitResult, error) {
	res, err := l.Shared.Take(ctx, key, limit, cost, now)
	if err == nil || !l.Local(key.Endpoint) {
		return res, err
	}
	l.Health.Fallback(key.Endpoint, "take", err)
	return l.LocalLimiter.Take(ctx, key, limit, cost, now)
}
