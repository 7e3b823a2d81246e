package verify

import (
	"crypto/sha256"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildStripe, Scheme{Sign: signStripe, Replayable: true, Timestamped: true})
}

// Stripe header name and default tolerance.
const (
	StripeSignatureHeader  = "stripe-signature"
	StripeDefaultTolerance = 5 * time.Minute
)

// Stripe verifies Stripe webhooks: Stripe-Signature is "t=<unix>" and one
// "v1=<hex HMAC-SHA256 of t.body>" per active signing secret (several while
// Stripe rolls a secret), plus entries such as v0 that are skipped. The
// secret is used as shown, "whsec_" included: Stripe never decodes it.
//
// stripe-go accepts timestamps from the future; hookguard does not. The
// replay key is the [ContentKey] of t, '.' and the body: Stripe's retries
// carry a new t, so they verify as new deliveries, while a captured request
// sent again does not.
type Stripe struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewStripe returns a Stripe verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means StripeDefaultTolerance).
func NewStripe(secrets []authz.Secret, tolerance time.Duration) *Stripe {
	return &Stripe{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, StripeDefaultTolerance)}
}

// buildStripe builds a Stripe verifier from its policy configuration.
func buildStripe(c *policyv1.StripeVerify, env Env) (authz.Verifier, error) {
	secrets, tolerance, err := secretsAndTolerance(env, c)
	if err != nil {
		return nil, err
	}
	return NewStripe(secrets, tolerance), nil
}

// Scheme returns "stripe".
func (*Stripe) Scheme() string { return "stripe" }

// Tolerance returns how far from now t may be.
func (s *Stripe) Tolerance() time.Duration { return s.tolerance }

// stripeHeader is Stripe-Signature: "t=<unix>,v1=<hex>,v1=...".
var stripeHeader = timestampedList{header: StripeSignatureHeader, sep: ",", tsKey: "t", sigKey: "v1", joint: dot}

// Verify checks Stripe-Signature against the body and the clock.
func (s *Stripe) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	return stripeHeader.verify(s.keys, s.tolerance, r, now)
}

// signStripe returns the Stripe-Signature header Stripe sends.
func signStripe(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	return []authz.HeaderValue{{Name: "Stripe-Signature", Value: stripeHeader.sign(secret, m)}}, nil
}
