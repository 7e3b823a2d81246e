package authz

import (
	"fmt"
	"io"
	"time"
)

// A Verifier checks one signature scheme against one endpoint's secrets.
// Package authz/verify holds one implementation per scheme.
//
// Verify must be safe for concurrent use, must not modify the request, and
// must compare secret material in constant time. On failure it returns
// [SignatureMissing] or [SignatureInvalid], possibly wrapped with a detail
// for the log; the detail must never quote a secret, a signature or the body.
type Verifier interface {
	// Scheme names the scheme as the policy does, e.g. "github".
	Scheme() string
	// Verify checks r at time now.
	Verify(r *Request, now time.Time) (Verified, error)
}

// Verified is what a Verifier learned from a request that verified.
type Verified struct {
	// DeliveryID is the provider's id for the delivery, when it sends one.
	DeliveryID string
	// ReplayKey identifies the delivery for replay protection. A Verifier
	// builds it only from what the signature covers, so nobody can mint a
	// fresh key by changing an unsigned header, and gives every copy of a
	// delivery the same key however its signature is spelt. Each scheme's
	// verifier documents how; the HMAC schemes share one rule,
	// [github.com/hookguard/hookguard/authz/verify.ContentKey]. Nil when
	// the scheme signs nothing that tells deliveries apart (a bare token).
	ReplayKey []byte
	// MoreReplayKeys are further keys of the same delivery, when it carries
	// several independent signatures (RFC 9421 allows a dictionary of
	// them): every one that verified gives a key, all are remembered at
	// once, and the delivery is a replay when any was seen, so dropping or
	// reordering signatures cannot make a captured request look new.
	MoreReplayKeys [][]byte
}

// A CredentialVerifier is a Verifier whose scheme sends a reusable credential,
// such as a bearer token, in headers. The core removes those headers from
// every request it lets through, whatever the policy says, so the upstream
// never holds a credential it could leak.
type CredentialVerifier interface {
	Verifier
	// CredentialHeaders names the headers, lower case.
	CredentialHeaders() []string
}

// Secret is key material: an HMAC key, a token or a public key. It formats
// as "[redacted]" with every fmt verb, so it cannot leak into a log line or
// an error message by accident.
type Secret []byte

const redacted = "[redacted]"

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (Secret) GoString() string { return redacted }

// Format writes "[redacted]" whatever the verb.
func (Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// A Handshaker is a Verifier whose provider verifies an endpoint before
// sending deliveries to it (Zoom, Twitch, Meta, Discord). hookguard answers
// the handshake itself, so the upstream needs no provider-specific code and
// never holds the secret.
type Handshaker interface {
	Verifier
	// Handshake returns the answer to r when r is a handshake, and nil when
	// it is an ordinary delivery. It checks what the provider lets it check
	// (a signature, a verify token) and returns an error, as Verify does,
	// when that fails.
	Handshake(r *Request, now time.Time) (*Response, error)
}

// Response is a response hookguard answers itself, with status 200.
type Response struct {
	ContentType string
	Body        []byte
}
