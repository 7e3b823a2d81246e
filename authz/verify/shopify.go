package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildShopify, Scheme{Sign: signShopify, Replayable: true})
}

// Shopify header names.
const (
	ShopifySignatureHeader = "x-shopify-hmac-sha256"
	ShopifyWebhookIDHeader = "x-shopify-webhook-id"
)

// Shopify verifies Shopify webhooks: X-Shopify-Hmac-Sha256 is the base64
// HMAC-SHA256 of the raw body under the app's client secret. Shopify signs
// no timestamp (X-Shopify-Triggered-At is not covered), so there is no
// freshness check; the replay key is the [ContentKey] of the body. After
// the client secret is rotated Shopify keeps signing some deliveries with
// the old one for a while: list both until then.
type Shopify struct {
	keys []*macKey
}

// NewShopify returns a Shopify verifier accepting any of secrets.
func NewShopify(secrets []authz.Secret) *Shopify {
	return &Shopify{keys: newMACKeys(sha256.New, secrets)}
}

// buildShopify builds a Shopify verifier from its policy configuration.
func buildShopify(c *policyv1.ShopifyVerify, env Env) (authz.Verifier, error) {
	secrets, err := env.Secrets("secrets", c.GetSecrets())
	if err != nil {
		return nil, err
	}
	return NewShopify(secrets), nil
}

// Scheme returns "shopify".
func (*Shopify) Scheme() string { return "shopify" }

// Verify checks X-Shopify-Hmac-Sha256 against the body.
func (s *Shopify) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	v := authz.Verified{DeliveryID: deliveryID(r, ShopifyWebhookIDHeader)}
	sig, err := signatureHeader(r, ShopifySignatureHeader)
	if err != nil {
		return v, err
	}
	var want [sha256.Size]byte
	if !decodeStdBase64To(want[:], sig) {
		return v, fmt.Errorf("%w: not base64 of %d bytes", authz.SignatureInvalid, sha256.Size)
	}
	key := matchMAC(s.keys, want[:], r.Body)
	if key == nil {
		return v, errNoSecretMatches
	}
	v.ReplayKey = key
	return v, nil
}

// signShopify returns the headers Shopify sends.
func signShopify(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	mac := newMACKey(sha256.New, secret).sum(nil, m.Body)
	return []authz.HeaderValue{
		{Name: "X-Shopify-Hmac-Sha256", Value: base64.StdEncoding.EncodeToString(mac)},
		{Name: "X-Shopify-Webhook-Id", Value: m.ID},
	}, nil
}
