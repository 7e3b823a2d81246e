package authz

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
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
	// Token identifies this check's claim on the keys (see NonceToken):
	// Forget removes only keys still held under it.
	Token NonceToken
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
// per delivery: for one key, SET key token NX PX ttl (fresh when it set the
// key); for several, a script doing the same for each key and deleting those
// it set when one was already there; Forget, a script deleting each key
// still holding the token. Such a store, bounded by its server's
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
	// Forget removes those of n.Keys that are still held under n.Token,
	// so the delivery is accepted again. Keys held under another token
	// (a later delivery's), or no longer held, are left alone; that is
	// not an error. Forget reads only n.Endpoint, n.Keys and n.Token.
	Forget(ctx context.Context, n Nonces) error
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

// MaxClaimKeys bounds the keys of a claim's text form, and so its length
// (about 1 KiB): a delivery with more keys is still protected against
// replays, but its claim travels nowhere and cannot be forgotten.
const MaxClaimKeys = 16

// maxClaimEndpoint bounds the endpoint name in a claim's text form; policy
// names are at most 63 bytes.
const maxClaimEndpoint = 255

// MarshalText returns the text form of the claim on c's keys, which
// travels through the proxy (Envoy's dynamic metadata, then its access log)
// so that the claim can be forgotten once the proxy says how the request
// ended:
//
//	endpoint:token:key[:key...]
//
// with the 16-byte token and each 32-byte key in lower-case hex. TTL,
// Capacity and OnFull are not part of it: forgetting needs none of them. A
// claim with more than [MaxClaimKeys] keys, or an endpoint name that is
// empty, longer than 255 bytes or holds a ':', has no text form.
func (c *Nonces) MarshalText() ([]byte, error) {
	return c.AppendText(make([]byte, 0, len(c.Endpoint)+1+2*len(c.Token)+len(c.Keys)*(1+2*len(NonceKey{}))))
}

// AppendText appends the claim's text form (see MarshalText) to b.
func (c *Nonces) AppendText(b []byte) ([]byte, error) {
	if err := checkClaimShape(c.Endpoint, len(c.Keys)); err != nil {
		return b, err
	}
	b = append(b, c.Endpoint...)
	b = append(b, ':')
	b = hex.AppendEncode(b, c.Token[:])
	for i := range c.Keys {
		b = append(b, ':')
		b = hex.AppendEncode(b, c.Keys[i][:])
	}
	return b, nil
}

// UnmarshalText reads a claim's text form (see MarshalText), refusing
// anything else: a wrong length, upper-case or invalid hex, too many keys.
func (c *Nonces) UnmarshalText(text []byte) error {
	parts := bytes.Split(text, []byte{':'})
	if len(parts) < 3 {
		return errors.New("nonce claim: want endpoint:token:key[:key...]")
	}
	endpoint, token, keys := parts[0], parts[1], parts[2:]
	if err := checkClaimShape(string(endpoint), len(keys)); err != nil {
		return err
	}
	var out Nonces
	out.Endpoint = string(endpoint)
	if err := decodeLowerHex(out.Token[:], token); err != nil {
		return fmt.Errorf("nonce claim token: %w", err)
	}
	out.Keys = make([]NonceKey, len(keys))
	for i, k := range keys {
		if err := decodeLowerHex(out.Keys[i][:], k); err != nil {
			return fmt.Errorf("nonce claim key %d: %w", i, err)
		}
	}
	*c = out
	return nil
}

func checkClaimShape(endpoint string, keys int) error {
	switch {
	case endpoint == "" || len(endpoint) > maxClaimEndpoint || strings.ContainsAny(endpoint, ":"):
		return errors.New("nonce claim: endpoint name is empty, too long or holds ':'")
	case keys < 1 || keys > MaxClaimKeys:
		return fmt.Errorf("nonce claim: %d keys, want 1 to %d", keys, MaxClaimKeys)
	}
	return nil
}

// decodeLowerHex fills dst from exactly 2*len(dst) lower-case hex digits,
// the one spelling MarshalText writes.
func decodeLowerHex(dst, src []byte) error {
	if len(src) != 2*len(dst) {
		return fmt.Errorf("%d hex digits, want %d", len(src), 2*len(dst))
	}
	for _, c := range src {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return errors.New("not lower-case hex")
		}
	}
	_, err := hex.Decode(dst, src)
	return err
}
