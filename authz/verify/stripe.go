package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
)

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
// replay key is the matching MAC: Stripe's retries carry a new t, so they
// verify as new deliveries, while a captured request sent again does not.
type Stripe struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewStripe returns a Stripe verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means StripeDefaultTolerance).
func NewStripe(secrets []authz.Secret, tolerance time.Duration) *Stripe {
	return &Stripe{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, StripeDefaultTolerance)}
}

// Scheme returns "stripe".
func (*Stripe) Scheme() string { return "stripe" }

// stripeHeader is a parsed Stripe-Signature: the timestamp text and the v1
// signatures, still hex.
type stripeHeader struct {
	t  string
	v1 [maxSignatures]string
	n  int
}

// parseStripeHeader splits a Stripe-Signature header. Keys other than t and
// v1 are skipped; a repeated t is refused, since which one was signed would
// be ambiguous.
func parseStripeHeader(h string) (*stripeHeader, error) {
	if len(h) > maxSignatureHeader {
		return nil, errTooLong
	}
	p := &stripeHeader{}
	seenT := false
	for rest := h; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch key {
		case "t":
			if seenT {
				return nil, fmt.Errorf("%w: more than one t", authz.SignatureInvalid)
			}
			seenT = true
			p.t = val
		case "v1":
			if p.n == maxSignatures {
				return nil, errTooMany
			}
			p.v1[p.n] = val
			p.n++
		}
	}
	if !seenT {
		return nil, fmt.Errorf("%w: no t", authz.SignatureInvalid)
	}
	if p.n == 0 {
		return nil, fmt.Errorf("%w: no v1 signature", authz.SignatureInvalid)
	}
	return p, nil
}

// Verify checks Stripe-Signature against the body and the clock.
func (s *Stripe) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	h, err := signatureHeader(r, StripeSignatureHeader)
	if err != nil {
		return v, err
	}
	p, err := parseStripeHeader(h)
	if err != nil {
		return v, err
	}
	ts, ok := parseUnix(p.t, time.Second)
	if !ok {
		return v, fmt.Errorf("%w: t is not a Unix time", authz.SignatureInvalid)
	}
	if err := checkWindow(ts, now, s.tolerance); err != nil {
		return v, err
	}
	var buf [maxSignatures][sha256.Size]byte
	var wants [maxSignatures][]byte
	n := 0
	for _, sig := range p.v1[:p.n] {
		// A v1 that is not a SHA-256 in hex cannot match: skip it as
		// Stripe's libraries do, and let another v1 verify.
		if decodeHexTo(buf[n][:], sig) {
			wants[n] = buf[n][:]
			n++
		}
	}
	mac, _ := matchAnyMAC(s.keys, wants[:n], []byte(p.t), dot, r.Body)
	if mac == nil {
		return v, fmt.Errorf("%w: no secret matches", authz.SignatureInvalid)
	}
	v.ReplayKey = mac
	return v, nil
}

// signStripe returns the Stripe-Signature header Stripe sends.
func signStripe(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	t := strconv.FormatInt(m.Time.Unix(), 10)
	mac := newMACKey(sha256.New, secret).sum(nil, []byte(t), dot, m.Body)
	return []authz.HeaderValue{
		{Name: "Stripe-Signature", Value: "t=" + t + ",v1=" + hex.EncodeToString(mac)},
	}, nil
}
