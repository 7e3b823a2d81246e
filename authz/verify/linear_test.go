package verify

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

func linearBody(ts time.Time) []byte {
	return []byte(fmt.Sprintf(`{"action":"create","type":"Issue","data":{"id":"abc"},"webhookTimestamp":%d}`, ts.UnixMilli()))
}

func TestLinear(t *testing.T) {
	v := NewLinear(hmacKeys[:1], 0)
	sign := func(body []byte) *authz.Request {
		h, _ := signLinear(hmacKeys[0], Message{Body: body, ID: "d1"})
		return request("POST", "", body, h...)
	}
	cases := []struct {
		name string
		body []byte
		now  time.Time
		want authz.Reason
	}{
		{"fresh", linearBody(t0), t0.Add(30 * time.Second), authz.OK},
		{"a minute old", linearBody(t0), t0.Add(time.Minute), authz.OK},
		{"stale", linearBody(t0), t0.Add(time.Minute + time.Millisecond), authz.TimestampOutOfWindow},
		{"future", linearBody(t0), t0.Add(-time.Minute - time.Millisecond), authz.TimestampOutOfWindow},
		{"no timestamp", []byte(`{"action":"create"}`), t0, authz.SignatureInvalid},
		{"timestamp as string", []byte(`{"webhookTimestamp":"1700000000000"}`), t0, authz.SignatureInvalid},
		{"timestamp fractional", []byte(`{"webhookTimestamp":1700000000000.5}`), t0, authz.SignatureInvalid},
		{"not JSON", []byte(`webhookTimestamp=1`), t0, authz.SignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := v.Verify(sign(c.body), c.now)
			checkReason(t, err, c.want)
			if c.want == authz.OK && got.DeliveryID != "d1" {
				t.Fatalf("delivery id %q", got.DeliveryID)
			}
		})
	}
}

func init() { schemeSuites["linear"] = testLinearSuite }

func testLinearSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "linear",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewLinear(keys, 0)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: linearBody(t0), Time: t0},
		sigHeader: LinearSignatureHeader,
		malformed: []string{"sha256=00", "zz", "00"},
	})
}
