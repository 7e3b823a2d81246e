package verify

import (
	"crypto/sha256"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildPaddle, Scheme{Sign: signPaddle, Replayable: true, Timestamped: true})
}

// Paddle header name and default tolerance.
const (
	PaddleSignatureHeader = "paddle-signature"
	// PaddleDefaultTolerance is the five seconds of Paddle's SDKs: Paddle
	// signs at send time, so only transit and clock skew need room.
	PaddleDefaultTolerance = 5 * time.Second
)

// Paddle verifies Paddle Billing webhooks: Paddle-Signature is
// "ts=<unix>;h1=<hex HMAC-SHA256 of ts:body>" under the notification
// destination's secret key, "pdl_ntfset_" prefix included. Several h1 may
// appear; other keys are skipped. The replay key is the [ContentKey] of ts,
// ':' and the body, so Paddle's retries, signed afresh, verify as new.
type Paddle struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewPaddle returns a Paddle verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means PaddleDefaultTolerance).
func NewPaddle(secrets []authz.Secret, tolerance time.Duration) *Paddle {
	return &Paddle{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, PaddleDefaultTolerance)}
}

// buildPaddle builds a Paddle verifier from its policy configuration.
func buildPaddle(c *policyv1.PaddleVerify, env Env) (authz.Verifier, error) {
	secrets, tolerance, err := secretsAndTolerance(env, c)
	if err != nil {
		return nil, err
	}
	return NewPaddle(secrets, tolerance), nil
}

// Scheme returns "paddle".
func (*Paddle) Scheme() string { return "paddle" }

// Tolerance returns how far from now ts may be.
func (p *Paddle) Tolerance() time.Duration { return p.tolerance }

// paddleHeader is Paddle-Signature: "ts=<unix>;h1=<hex>;h1=...".
var paddleHeader = timestampedList{header: PaddleSignatureHeader, sep: ";", tsKey: "ts", sigKey: "h1", joint: colon}

// Verify checks Paddle-Signature against the body and the clock.
func (p *Paddle) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	return paddleHeader.verify(p.keys, p.tolerance, r, now)
}

// signPaddle returns the header Paddle sends.
func signPaddle(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	return []authz.HeaderValue{{Name: "Paddle-Signature", Value: paddleHeader.sign(secret, m)}}, nil
}
