package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
	"sync"

	"github.com/hookguard/hookguard/authz"
)

// Separators several schemes sign between the parts of a delivery.
var (
	dot   = []byte(".")
	colon = []byte(":")
)

// errNoSecretMatches is the failure of a well-formed signature that no
// configured secret produces. One value, so a flood of forged requests
// costs no allocation to refuse.
var errNoSecretMatches = fmt.Errorf("%w: no secret matches", authz.SignatureInvalid)

// macKey is one HMAC key with a pool of keyed hashes, so that a request
// costs a Reset instead of hmac.New's key schedule and allocations.
type macKey struct {
	pool sync.Pool
	kind hashKind
}

func newMACKey(h func() hash.Hash, secret authz.Secret) *macKey {
	k := &macKey{kind: hashKindOf(h().Size())}
	k.pool.New = func() any { return hmac.New(h, secret) }
	return k
}

// sum returns the MAC of the concatenation of parts, appended to dst.
func (k *macKey) sum(dst []byte, parts ...[]byte) []byte {
	m := k.pool.Get().(hash.Hash)
	m.Reset()
	n := 0
	for _, p := range parts {
		m.Write(p)
		n += len(p)
	}
	meter.mac(k.kind, n)
	dst = m.Sum(dst)
	k.pool.Put(m)
	return dst
}

// newMACKeys builds one macKey per secret.
func newMACKeys(h func() hash.Hash, secrets []authz.Secret) []*macKey {
	keys := make([]*macKey, len(secrets))
	for i, s := range secrets {
		keys[i] = newMACKey(h, s)
	}
	return keys
}

// matchMAC reports whether the MAC of parts under any key equals want,
// compared in constant time, and returns the delivery's replay key, the
// ContentKey of parts, or nil when no key matches. Every key is tried: the order of secrets must not
// show in the timing of a match.
func matchMAC(keys []*macKey, want []byte, parts ...[]byte) []byte {
	key, _ := matchAnyMAC(keys, [][]byte{want}, parts...)
	return key
}

// matchAnyMAC is matchMAC for a header listing several signatures, as
// during a provider's key roll: it reports whether the MAC of parts under
// any key equals any of wants, and returns the replay key (the ContentKey of
// parts) and the index of the first matching key, or nil and -1. Each key's MAC is computed once and
// compared with every want in constant time; every key and every want is
// tried, so neither the position of the matching secret nor that of the
// matching signature shows in the timing.
func matchAnyMAC(keys []*macKey, wants [][]byte, parts ...[]byte) (replayKey []byte, index int) {
	index = -1
	var buf [64]byte
	for i, k := range keys {
		got := k.sum(buf[:0], parts...)
		hit := 0
		for _, w := range wants {
			hit |= subtle.ConstantTimeCompare(got, w)
		}
		if hit == 1 && index < 0 {
			index = i
		}
	}
	if index < 0 {
		return nil, -1
	}
	return ContentKey(parts...), index
}

// ContentKey returns the replay key (authz.Verified.ReplayKey) of a
// delivery whose HMAC signature verified, parts being the content the
// signature covers, in order: a SHA-256 of their concatenation. It is the
// rule of every HMAC scheme, whose verifiers' docs say which parts they
// sign.
//
// Only content the signature covers goes in, so no unsigned header can mint
// a fresh key. The key depends neither on which secret matched, nor on
// which of several listed signatures did, nor on how the signature was
// spelt (hex case, base64 padding): dropping entries from a signature list
// during a key roll, reordering the policy's secrets or re-spelling a
// captured signature cannot make a delivery look new. A provider's retry
// signed afresh over a new timestamp is a new delivery, since the
// timestamp is part of what is signed.
func ContentKey(parts ...[]byte) []byte {
	h := sha256.New()
	n := 0
	for _, p := range parts {
		h.Write(p)
		n += len(p)
	}
	meter.hash(hashSHA256, n)
	return h.Sum(nil)
}

// macList holds the decoded signatures of a header that lists several, as
// during a provider's key roll. Entries that do not decode to a MAC of the
// expected size are skipped, as the providers' libraries do: a malformed
// entry cannot match, and another may. Declared on the caller's stack, it
// costs a request no allocation; it holds bytes only, since a slice stored
// through its pointer would move it to the heap.
type macList struct {
	buf  [maxSignatures][sha512.Size]byte
	size int
	n    int
}

// decode keeps the entries of sigs (at most maxSignatures) that decode to
// size bytes, and returns how many did.
func (l *macList) decode(sigs []string, size int, enc sigEncoding) int {
	l.size, l.n = size, 0
	for _, s := range sigs {
		if enc.decode(l.buf[l.n][:size], s) {
			l.n++
		}
	}
	return l.n
}

// match is matchAnyMAC over the decoded signatures.
func (l *macList) match(keys []*macKey, parts ...[]byte) (replayKey []byte, index int) {
	var wants [maxSignatures][]byte
	for i := range l.n {
		wants[i] = l.buf[i][:l.size]
	}
	return matchAnyMAC(keys, wants[:l.n], parts...)
}
