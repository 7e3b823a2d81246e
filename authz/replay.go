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

// A NonceStore remembers deliveries for replay protection. Implementations
// must be safe for concurrent use.
type NonceStore interface {
	// Remember records keys for ttl and reports whether the delivery was
	// new: none of keys was known. A delivery has one key, or several when
	// it carries several independent signatures; it is a replay when any is
	// known, and then nothing is recorded. Checking and recording are one
	// atomic step: of two concurrent calls sharing a key, exactly one sees
	// fresh == true.
	Remember(ctx context.Context, keys []NonceKey, ttl time.Duration) (fresh bool, err error)
	// Forget removes key, so the delivery is accepted again.
	Forget(ctx context.Context, key NonceKey) error
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
