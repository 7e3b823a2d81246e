package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

func TestPagerDutyHeaders(t *testing.T) {
	body := `{"event":{"id":"5ac64822-4adc-4fda-ade0-410becf0de4f","event_type":"incident.priority_updated"}}`
	mac := func(secret string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		return hex.EncodeToString(m.Sum(nil))
	}
	v := NewPagerDuty(secrets("new-secret"))
	runHeaderVectors(t, v, "X-PagerDuty-Signature", body, []headerVector{
		{"one", "v1=" + mac("new-secret"), authz.OK},
		{"second of two", "v1=" + mac("old-secret") + ",v1=" + mac("new-secret"), authz.OK},
		{"with spaces", "v1=" + mac("old-secret") + ", v1=" + mac("new-secret"), authz.OK},
		{"unknown version skipped", "v2=abc,v1=" + mac("new-secret"), authz.OK},
		{"only unknown versions", "v2=" + mac("new-secret"), authz.SignatureInvalid},
		{"no prefix", mac("new-secret"), authz.SignatureInvalid},
		{"only old", "v1=" + mac("old-secret"), authz.SignatureInvalid},
		{"too many", strings.Repeat("v1="+mac("old-secret")+",", maxSignatures) + "v1=" + mac("new-secret"), authz.SignatureInvalid},
	})
}

func init() { schemeSuites["pagerduty"] = testPagerDutySuite }

func testPagerDutySuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "pagerduty",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewPagerDuty(keys)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"event":{}}`)},
		sigHeader: PagerDutySignatureHeader,
		malformed: []string{"v1=", "v1=zz", ",,,", "v1"},
	})
}
