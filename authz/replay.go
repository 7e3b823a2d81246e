package authz

import (
	"context"
	"crypto/sha256"
	"time"
)

// NonceKey is the fixed-size key under which a delivery is remembered: a
// SHA-256 of the endpoint name and the scheme's replay key. Hashing bounds
// the memory per entry whatever a scheme's key looks like.
type NonceKey [sha256.Size]byte

// NewNonceKey derives the key for a replay key on an endpoint. The endpoint
// name is length-prefixed so that no two (endpoint, key) pairs collide.
func NewNonceKey(endpoint string, replayKey []byte) NonceKey {
	var buf [256]byte
	b := append(buf[:0], byte(len(endpoint)>>8), byte(len(endpoint)))
	b = append(b, endpoint...)
	b = append(b, replayKey...)
	return sha256.Sum256(b)
}

// MaxReplayTTL is the longest time a delivery can be remembered. Policies
// asking for more are refused, which bounds how long an entry holds memory.
const MaxReplayTTL = 24 * time.Hour

// Nonces is one delivery for a [NonceStore] to remember: its keys, and
// what the endpoint's policy says about remembering them.
type Nonces struct {
	// Endpoint names the endpoint the delivery arrived on. A store keeps
	// each endpoint's deliveries apart, in a share of its own, so that no
	// endpoint's traffic pushes out another's.
	Endpoint string
	// Keys are the delivery's keys, each made by [NewNonceKey] with
	// Endpoint: one, or several when the delivery carries several
	// independent signatures. At least one.
	Keys []NonceKey
	// TTL is how long the keys are remembered; more than zero.
	TTL time.Duration
	// Capacity is the most deliveries of the endpoint held at once: its
	// share. Zero lets the store choose. The policy compiler keeps the
	// shares of all endpoints within the store's capacity.
	Capacity int
	// OnFull says what a new delivery meets when the share is full of
	// deliveries still within their TTL.
	OnFull OnFull
}

// OnFull is what happens to a new delivery when its endpoint's share of the
// nonce store is full of deliveries still within their TTL.
type OnFull uint8

const (
	// EvictOldest forgets the share's oldest delivery to make room, so
	// the new one is allowed, and a replay of the evicted one would be
	// too. Stores count such early evictions per endpoint.
	EvictOldest OnFull = iota
	// RejectWhenFull refuses the new delivery with a [*ShareFullError]:
	// nothing is forgotten early, and the provider is asked to retry.
	RejectWhenFull
)

// A ShareFullError is returned by [NonceStore.Remember] for a delivery
// refused because its endpoint's share is full and Nonces.OnFull is
// [RejectWhenFull]. The Authorizer answers it with [Unavailable] and
// Retry-After.
type ShareFullError struct {
	// Endpoint names the endpoint whose share is full.
	Endpoint string
	// RetryAfter is how long until the share has room again, as far as
	// the store can tell: when enough of its oldest deliveries expire.
	RetryAfter time.Duration
}

func (e *ShareFullError) Error() string {
	return "replay share of endpoint " + e.Endpoint + " is full (on_full: reject)"
}

// A NonceStore remembers deliveries for replay protection. Implementations
// must be safe for concurrent use, and fail rather than answer fresh when
// they cannot tell: any error denies the request with [Unavailable].
//
// The interface fits a store shared by several replicas in one round trip
// per delivery: for one key, SET key NX PX ttl (fresh when it set the key);
// for several, a script doing the same for each key and deleting those it
// set when one was already there. Such a store, bounded by its server's
// memory, may ignore Capacity and OnFull, as long as a write the server
// refuses is an error, not a fresh answer.
type NonceStore interface {
	// Remember records n.Keys for n.TTL and reports whether the delivery
	// was new: none of its keys was known. A delivery is a replay when
	// any key is known, and then nothing is recorded. Checking and
	// recording are one atomic step: of two concurrent calls sharing a
	// key, exactly one sees fresh == true. When the endpoint's share is
	// full and n.OnFull is RejectWhenFull, Remember records nothing and
	// returns a *ShareFullError.
	Remember(ctx context.Context, n Nonces) (fresh bool, err error)
	// Forget removes key from endpoint's deliveries, so the delivery is
	// accepted again. Forgetting an unknown key is not an error.
	Forget(ctx context.Context, endpoint string, key NonceKey) error
}

// A Clock tells the time. Tests use a fake one to control freshness windows
// and expiry.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
