package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildPagerDuty, Scheme{Sign: signPagerDuty, Replayable: true})
}

// PagerDuty header names.
const (
	PagerDutySignatureHeader = "x-pagerduty-signature"
	PagerDutyWebhookIDHeader = "x-webhook-id"
)

// PagerDuty verifies PagerDuty v3 webhooks: X-PagerDuty-Signature lists
// comma-separated "v1=<hex HMAC-SHA256 of the body>", one per secret of the
// subscription while it rotates; other versions are skipped. PagerDuty
// signs no timestamp; the replay key is the [ContentKey] of the body.
type PagerDuty struct {
	keys []*macKey
}

// NewPagerDuty returns a PagerDuty verifier accepting any of secrets.
func NewPagerDuty(secrets []authz.Secret) *PagerDuty {
	return &PagerDuty{keys: newMACKeys(sha256.New, secrets)}
}

// buildPagerDuty builds a PagerDuty verifier from its policy configuration.
func buildPagerDuty(c *policyv1.PagerDutyVerify, env Env) (authz.Verifier, error) {
	secrets, err := env.Secrets("secrets", c.GetSecrets())
	if err != nil {
		return nil, err
	}
	return NewPagerDuty(secrets), nil
}

// Scheme returns "pagerduty".
func (*PagerDuty) Scheme() string { return "pagerduty" }

// parsePagerDutySignatures reads the v1 entries of X-PagerDuty-Signature,
// still hex. Every entry, whatever its version, counts towards
// maxSignatures.
func parsePagerDutySignatures(h string) (p sigList, err error) {
	if len(h) > maxSignatureHeader {
		return p, errTooLong
	}
	if p.n, err = splitPrefixed(h, ",", "v1=", &p.sigs); err != nil {
		return p, err
	}
	if p.n == 0 {
		return p, fmt.Errorf("%w: no v1 signature", authz.SignatureInvalid)
	}
	return p, nil
}

// Verify checks X-PagerDuty-Signature against the body.
func (p *PagerDuty) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	v := authz.Verified{DeliveryID: deliveryID(r, PagerDutyWebhookIDHeader)}
	h, err := signatureHeader(r, PagerDutySignatureHeader)
	if err != nil {
		return v, err
	}
	sigs, err := parsePagerDutySignatures(h)
	if err != nil {
		return v, err
	}
	var l macList
	l.decode(sigs.sigs[:sigs.n], sha256.Size, encHex)
	key, _ := l.match(p.keys, r.Body)
	if key == nil {
		return v, errNoSecretMatches
	}
	v.ReplayKey = key
	return v, nil
}

// signPagerDuty returns the headers PagerDuty sends.
func signPagerDuty(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	mac := newMACKey(sha256.New, secret).sum(nil, m.Body)
	return []authz.HeaderValue{
		{Name: "X-PagerDuty-Signature", Value: "v1=" + hex.EncodeToString(mac)},
		{Name: "X-Webhook-Id", Value: m.ID},
	}, nil
}
