package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildLinear, Scheme{Sign: signLinear, Replayable: true, Timestamped: true})
}

// Linear header names and default tolerance.
const (
	LinearSignatureHeader = "linear-signature"
	LinearDeliveryHeader  = "linear-delivery"
	// LinearDefaultTolerance is the minute Linear documents.
	LinearDefaultTolerance = time.Minute
)

// Linear verifies Linear webhooks: Linear-Signature is the hex HMAC-SHA256
// of the raw body. The timestamp is not a header but the body's
// webhookTimestamp (Unix milliseconds), covered by the signature; it is
// read only once the signature verifies, so forged bodies are never
// decoded. The replay key is the [ContentKey] of the body, which holds the
// timestamp.
type Linear struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewLinear returns a Linear verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means LinearDefaultTolerance).
func NewLinear(secrets []authz.Secret, tolerance time.Duration) *Linear {
	return &Linear{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, LinearDefaultTolerance)}
}

// buildLinear builds a Linear verifier from its policy configuration.
func buildLinear(c *policyv1.LinearVerify, env Env) (authz.Verifier, error) {
	secrets, tolerance, err := secretsAndTolerance(env, c)
	if err != nil {
		return nil, err
	}
	return NewLinear(secrets, tolerance), nil
}

// Scheme returns "linear".
func (*Linear) Scheme() string { return "linear" }

// Tolerance returns how far from now the body's webhookTimestamp may be.
func (l *Linear) Tolerance() time.Duration { return l.tolerance }

// Verify checks Linear-Signature against the body, then the body's
// webhookTimestamp against the clock.
func (l *Linear) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	v := authz.Verified{DeliveryID: deliveryID(r, LinearDeliveryHeader)}
	sig, err := signatureHeader(r, LinearSignatureHeader)
	if err != nil {
		return v, err
	}
	var want [sha256.Size]byte
	if !decodeHexTo(want[:], sig) {
		return v, fmt.Errorf("%w: not %d hex digits", authz.SignatureInvalid, 2*sha256.Size)
	}
	key := matchMAC(l.keys, want[:], r.Body)
	if key == nil {
		return v, errNoSecretMatches
	}
	ts, ok := linearTimestamp(r.Body)
	if !ok {
		return v, fmt.Errorf("%w: body has no webhookTimestamp in milliseconds", authz.SignatureInvalid)
	}
	if err := checkWindow(ts, now, l.tolerance); err != nil {
		return v, err
	}
	v.ReplayKey = key
	return v, nil
}

// linearTimestamp reads the top-level webhookTimestamp of a Linear body.
func linearTimestamp(body []byte) (time.Time, bool) {
	var b struct {
		// Raw, so only a JSON integer passes parseUnix: a quoted or
		// fractional value is not what Linear sends.
		WebhookTimestamp json.RawMessage `json:"webhookTimestamp"`
	}
	meter.json(len(body))
	if json.Unmarshal(body, &b) != nil {
		return time.Time{}, false
	}
	return parseUnix(string(b.WebhookTimestamp), time.Millisecond)
}

// signLinear returns the headers Linear sends. The body must carry its own
// webhookTimestamp, as Linear's do.
func signLinear(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	mac := newMACKey(sha256.New, secret).sum(nil, m.Body)
	return []authz.HeaderValue{
		{Name: "Linear-Signature", Value: hex.EncodeToString(mac)},
		{Name: "Linear-Delivery", Value: m.ID},
	}, nil
}
