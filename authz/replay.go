package authz

import (
	"context"
	"crypto/rand"
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

// A NonceToken identifies one check's claim on its delivery's nonce keys: a
// store keeps it with the keys, and forgets a claim only when the token
// still matches. A later delivery of the same keys (the provider's retry,
// accepted after the first attempt was forgotten) holds another token, so a
// late or repeated forget cannot remove it. Tokens are random, so knowing a
// delivery is not enough to forget it.
type NonceToken [16]byte

// NewNonceToken returns a random token.
func NewNonceToken() NonceToken {
	var t NonceToken
	rand.Read(t[:])
	return t
}

// A NonceClaim is what one check asks a [NonceStore] to remember: a
// delivery's keys on an endpoint, for a time, under a token.
type NonceClaim struct {
	// Endpoint is the endpoint's name. Its keys already include it (see
	// NewNonceKey); stores may also use it to group an endpoint's keys.
	Endpoint string
	// Keys are the delivery's keys: one, or several when it carries
	// several independent signatures.
	Keys []NonceKey
	// TTL is how long the keys are remembered.
	TTL time.Duration
	// Token identifies the claim (see NonceToken).
	Token NonceToken
}

// A NonceStore remembers deliveries for replay protection. Implementations
// must be safe for concurrent use.
type NonceStore interface {
	// Remember records c's keys for c.TTL and reports whether the delivery
	// was new: none of its keys was known. It is a replay when any is
	// known, and then nothing is recorded. Checking and recording are one
	// atomic step: of two concurrent calls sharing a key, exactly one sees
	// fresh == true.
	Remember(ctx context.Context, c *NonceClaim) (fresh bool, err error)
	// Forget removes those of c's keys that are still held under
	// c.Token, so the delivery is accepted again. Keys held under another
	// token, or no longer held, are left alone.
	Forget(ctx context.Context, c *NonceClaim) error
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
