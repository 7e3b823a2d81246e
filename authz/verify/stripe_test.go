package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

func stripeMAC(secret, ts, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return hex.EncodeToString(m.Sum(nil))
}

// parseStripeHeader is the parser FuzzStripeHeader exercises.
func parseStripeHeader(h string) (sigList, error) { return stripeHeader.parse(h) }

func TestStripeHeaders(t *testing.T) {
	const secret, body = "whsec_test_secret", `{"id":"evt_1","object":"event"}`
	ts := strconv.FormatInt(t0.Unix(), 10)
	good := stripeMAC(secret, ts, body)
	other := stripeMAC("whsec_other", ts, body)
	v := NewStripe(secrets(secret), 0)
	runHeaderVectors(t, v, "Stripe-Signature", body, []headerVector{
		{"one v1", "t=" + ts + ",v1=" + good, authz.OK},
		{"roll: second v1 matches", "t=" + ts + ",v1=" + other + ",v1=" + good, authz.OK},
		{"v0 and unknown keys skipped", "t=" + ts + ",v0=" + other + ",v9=zz,foo,v1=" + good, authz.OK},
		{"upper-case hex", "t=" + ts + ",v1=" + strings.ToUpper(good), authz.OK},
		{"spaces around items", "t=" + ts + ", v1=" + good, authz.OK},
		{"malformed v1 skipped", "t=" + ts + ",v1=xyz,v1=" + good, authz.OK},
		{"only v0", "t=" + ts + ",v0=" + good, authz.SignatureInvalid},
		{"no t", "v1=" + good, authz.SignatureInvalid},
		{"two t", "t=" + ts + ",t=" + ts + ",v1=" + good, authz.SignatureInvalid},
		{"t not a number", "t=abc,v1=" + good, authz.SignatureInvalid},
		{"t negative", "t=-" + ts + ",v1=" + good, authz.SignatureInvalid},
		{"t mutated", "t=" + strconv.FormatInt(t0.Unix()+1, 10) + ",v1=" + good, authz.SignatureInvalid},
		{"wrong v1", "t=" + ts + ",v1=" + other, authz.SignatureInvalid},
		{"too many v1", "t=" + ts + strings.Repeat(",v1="+other, maxSignatures) + ",v1=" + good, authz.SignatureInvalid},
		{"whsec_ not decoded", "t=" + ts + ",v1=" + stripeMAC("test_secret", ts, body), authz.SignatureInvalid},
		{"garbage", ",,,===,", authz.SignatureInvalid},
	})
}

func init() { schemeSuites["stripe"] = testStripeSuite }

func testStripeSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "stripe",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewStripe(keys, 0)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"id":"evt_1"}`)},
		sigHeader: StripeSignatureHeader,
		tolerance: StripeDefaultTolerance,
		malformed: []string{"v1=00", "t=1700000000", "t=1700000000,v1=", "t=1700000000,v1=zz", strings.Repeat(",", 100)},
	})
}

func TestStripeTolerance(t *testing.T) {
	v := NewStripe(hmacKeys, time.Minute)
	r := request("POST", "", []byte("{}"))
	h, _ := signStripe(hmacKeys[0], Message{Body: r.Body, Time: t0})
	r.Header[StripeSignatureHeader] = h[0].Value
	_, err := v.Verify(r, t0.Add(2*time.Minute))
	checkReason(t, err, authz.TimestampOutOfWindow)
}
