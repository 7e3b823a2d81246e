package verify

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// PROVIDERS.md vectors 3 and 4, from the Standard Webhooks specification.
const (
	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swPublicKey = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
	swID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swTS        = "1614265330"
	swBody      = `{"test": 2432232314}`
	swV1        = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	swV1a       = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)

func TestStandardWebhooksVectors(t *testing.T) {
	at := time.Unix(1614265330, 0)
	hmacOnly, err := NewStandardWebhooks(secrets(swSecret), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	edOnly, err := NewStandardWebhooks(nil, secrets(swPublicKey), 0)
	if err != nil {
		t.Fatal(err)
	}
	both, err := NewStandardWebhooks(secrets("whsec_"+base64.StdEncoding.EncodeToString([]byte("another key"))), secrets(swPublicKey), 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		v       authz.Verifier
		prefix  string // header name prefix: webhook- or svix-
		id, sig string
		body    string
		now     time.Time
		want    authz.Reason
	}{
		{"v1 vector", hmacOnly, "webhook-", swID, swV1, swBody, at, authz.OK},
		{"v1a vector", edOnly, "webhook-", swID, swV1a, swBody, at, authz.OK},
		{"svix header names", hmacOnly, "svix-", swID, swV1, swBody, at, authz.OK},
		{"v1 among unknown versions", hmacOnly, "webhook-", swID, "v2,abc v1,AAAA " + swV1 + " v1a,xyz", swBody, at, authz.OK},
		{"v1a after a non-matching v1", both, "webhook-", swID, swV1 + " " + swV1a, swBody, at, authz.OK},
		{"v1 without padding", hmacOnly, "webhook-", swID, strings.TrimRight(swV1, "="), swBody, at, authz.OK},
		{"v1a against HMAC-only", hmacOnly, "webhook-", swID, swV1a, swBody, at, authz.SignatureInvalid},
		{"v1 against key-only", edOnly, "webhook-", swID, swV1, swBody, at, authz.SignatureInvalid},
		{"mutated id", hmacOnly, "webhook-", swID + "x", swV1, swBody, at, authz.SignatureInvalid},
		{"mutated body, v1a", edOnly, "webhook-", swID, swV1a, swBody + " ", at, authz.SignatureInvalid},
		{"only unknown versions", hmacOnly, "webhook-", swID, "v2,abc v3,def", swBody, at, authz.SignatureInvalid},
		{"stale", hmacOnly, "webhook-", swID, swV1, swBody, at.Add(5*time.Minute + time.Second), authz.TimestampOutOfWindow},
		{"future", edOnly, "webhook-", swID, swV1a, swBody, at.Add(-5*time.Minute - time.Second), authz.TimestampOutOfWindow},
		{"too many entries", hmacOnly, "webhook-", swID, strings.Repeat("v2,x ", maxSignatures) + swV1, swBody, at, authz.SignatureInvalid},
		{"no id", hmacOnly, "webhook-", "", swV1, swBody, at, authz.SignatureMissing},
		{"id too long", hmacOnly, "webhook-", strings.Repeat("m", maxIDLength+1), swV1, swBody, at, authz.SignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request("POST", "", []byte(c.body),
				authz.HeaderValue{Name: c.prefix + "id", Value: c.id},
				authz.HeaderValue{Name: c.prefix + "timestamp", Value: swTS},
				authz.HeaderValue{Name: c.prefix + "signature", Value: c.sig})
			if c.id == "" {
				delete(r.Header, c.prefix+"id")
			}
			got, err := c.v.Verify(r, c.now)
			checkReason(t, err, c.want)
			if c.want == authz.OK && (string(got.ReplayKey) != c.id || got.DeliveryID != c.id) {
				t.Fatalf("replay key %q, delivery id %q: want the message id", got.ReplayKey, got.DeliveryID)
			}
		})
	}
}

func TestStandardWebhooksBadKeys(t *testing.T) {
	for _, c := range []struct {
		name          string
		secrets, keys []authz.Secret
	}{
		{"none", nil, nil},
		{"secret not base64", secrets("whsec_!!!"), nil},
		{"public key not base64", nil, secrets("whpk_!!!")},
		{"public key wrong size", nil, secrets("whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 31)))},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewStandardWebhooks(c.secrets, c.keys, 0)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "!!!") {
				t.Fatal("error quotes the key")
			}
		})
	}
}

// swEdKeys returns n Ed25519 key pairs as whsk_/whpk_ strings.
func swEdKeys(n int) (priv, pub []authz.Secret) {
	for i := 0; i < n; i++ {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(i + 1)
		k := ed25519.NewKeyFromSeed(seed)
		priv = append(priv, authz.Secret("whsk_"+base64.StdEncoding.EncodeToString(k)))
		pub = append(pub, authz.Secret("whpk_"+base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))))
	}
	return priv, pub
}

func init() { schemeSuites["standard_webhooks"] = testStandardWebhooksSuite }

func testStandardWebhooksSuite(t *testing.T) {
	var whsec []authz.Secret
	for _, s := range []string{"one", "two", "three"} {
		whsec = append(whsec, authz.Secret("whsec_"+base64.StdEncoding.EncodeToString([]byte("secret "+s))))
	}
	malformed := []string{"v1", "v1,", "v1,!!!!", "v1a,AAAA", "v2,abc", "  "}
	t.Run("v1", func(t *testing.T) {
		runSuite(t, suite{
			scheme: "standard_webhooks",
			verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
				v, err := NewStandardWebhooks(keys, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
			signKeys: whsec, verifyKeys: whsec,
			msg:       Message{Body: []byte(`{"type":"user.created"}`)},
			sigHeader: StandardWebhooksSignatureHeader, tsHeader: StandardWebhooksTimestampHeader,
			tolerance: StandardWebhooksDefaultTolerance, stableReplayKey: true,
			malformed: malformed,
		})
	})
	t.Run("v1a", func(t *testing.T) {
		priv, pub := swEdKeys(3)
		runSuite(t, suite{
			scheme: "standard_webhooks",
			verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
				v, err := NewStandardWebhooks(nil, keys, 0)
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
			signKeys: priv, verifyKeys: pub,
			msg:       Message{Body: []byte(`{"type":"user.created"}`)},
			sigHeader: StandardWebhooksSignatureHeader, tsHeader: StandardWebhooksTimestampHeader,
			tolerance: StandardWebhooksDefaultTolerance, stableReplayKey: true,
			malformed: malformed,
		})
	})
}

// TestStandardWebhooksEd25519Budget: v1a signatures name no key, so a
// request costs at most ed25519Budget checks, signatures in header order
// each under the keys in policy order; past the budget it is refused and
// says so.
func TestStandardWebhooksEd25519Budget(t *testing.T) {
	priv, pub := swEdKeys(4)
	body := []byte(`{"event":"x"}`)
	m := Message{ID: "msg_1", Time: t0, Body: body}
	sig := func(key authz.Secret) string {
		h, err := Sign("standard_webhooks", key, m)
		if err != nil {
			t.Fatal(err)
		}
		return h[2].Value
	}
	forged := func(i int) string { return "v1a," + base64.StdEncoding.EncodeToString(fakeEd25519Signature(i)) }
	cases := []struct {
		name   string
		keys   []authz.Secret
		sigs   []string
		want   authz.Reason
		checks int
	}{
		{"one key, signature third", pub[:1], []string{forged(0), forged(1), sig(priv[0])}, authz.OK, 3},
		{"one key, signature fourth", pub[:1], []string{forged(0), forged(1), forged(2), sig(priv[0])}, authz.SignatureInvalid, 3},
		{"key roll, old key removed", pub[1:2], []string{sig(priv[0]), sig(priv[1])}, authz.OK, 2},
		{"key roll, both keys", pub[:2], []string{sig(priv[1]), sig(priv[0])}, authz.OK, 2},
		{"four keys, signature under the last", pub[:4], []string{sig(priv[3])}, authz.OK, 4},
		{"three keys, sixteen forged signatures", pub[:3], []string{forged(0), forged(1), forged(2), forged(3), forged(4), forged(5), forged(6), forged(7),
			forged(8), forged(9), forged(10), forged(11), forged(12), forged(13), forged(14), forged(15)}, authz.SignatureInvalid, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewStandardWebhooks(nil, c.keys, 0)
			if err != nil {
				t.Fatal(err)
			}
			r := request("POST", "", body,
				authz.HeaderValue{Name: "webhook-id", Value: m.ID},
				authz.HeaderValue{Name: "webhook-timestamp", Value: unixText(t0)},
				authz.HeaderValue{Name: "webhook-signature", Value: strings.Join(c.sigs, " ")})
			w := measure(t, func() { _, err = v.Verify(r, t0) })
			checkReason(t, err, c.want)
			if w.ed25519 != c.checks {
				t.Errorf("%d Ed25519 checks, want %d", w.ed25519, c.checks)
			}
			if c.want != authz.OK && len(c.sigs)*len(c.keys) > c.checks && !strings.Contains(err.Error(), "the most one request gets") {
				t.Errorf("error %q does not say the checks ran out", err)
			}
		})
	}
}
