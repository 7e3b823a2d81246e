package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

func TestShopifyHeaders(t *testing.T) {
	const secret, body = "hush", `{"id":820982911946154508}`
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	good := base64.StdEncoding.EncodeToString(m.Sum(nil))
	v := NewShopify(secrets(secret))
	cases := []struct {
		name, sig string
		want      authz.Reason
	}{
		{"padded", good, authz.OK},
		{"unpadded", strings.TrimRight(good, "="), authz.OK},
		{"hex instead of base64", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", authz.SignatureInvalid},
		{"base64url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(good) + "-", authz.SignatureInvalid},
		{"truncated", good[:40], authz.SignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request("POST", "", []byte(body), authz.HeaderValue{Name: "X-Shopify-Hmac-Sha256", Value: c.sig},
				authz.HeaderValue{Name: "X-Shopify-Webhook-Id", Value: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"})
			got, err := v.Verify(r, t0)
			checkReason(t, err, c.want)
			if c.want == authz.OK && got.DeliveryID != "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" {
				t.Fatalf("delivery id %q", got.DeliveryID)
			}
		})
	}
}

func init() { schemeSuites["shopify"] = testShopifySuite }

func testShopifySuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "shopify",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewShopify(keys)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"id":1}`)},
		sigHeader: ShopifySignatureHeader,
		malformed: []string{"=", "!!!!", "sha256=abc", strings.Repeat("A", 43) + "=="},
	})
}
