package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// parsePaddleHeader is the parser FuzzPaddleHeader exercises.
func parsePaddleHeader(h string) (sigList, error) { return paddleHeader.parse(h) }

func TestPaddleHeaders(t *testing.T) {
	const secret = "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI"
	body := `{"event_id":"evt_01h8bzakzx3hm2fmen703n5q45","event_type":"transaction.updated"}`
	ts := strconv.FormatInt(t0.Unix(), 10)
	mac := func(secret, ts string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + ":" + body))
		return hex.EncodeToString(m.Sum(nil))
	}
	v := NewPaddle(secrets(secret), 0)
	runHeaderVectors(t, v, "Paddle-Signature", body, []headerVector{
		{"one h1", "ts=" + ts + ";h1=" + mac(secret, ts), authz.OK},
		{"several h1", "ts=" + ts + ";h1=" + mac("old", ts) + ";h1=" + mac(secret, ts), authz.OK},
		{"unknown key skipped", "ts=" + ts + ";h2=abc;h1=" + mac(secret, ts), authz.OK},
		{"prefix is part of the key", "ts=" + ts + ";h1=" + mac(strings.TrimPrefix(secret, "pdl_ntfset_"), ts), authz.SignatureInvalid},
		{"no ts", "h1=" + mac(secret, ts), authz.SignatureInvalid},
		{"two ts", "ts=" + ts + ";ts=" + ts + ";h1=" + mac(secret, ts), authz.SignatureInvalid},
		{"no h1", "ts=" + ts, authz.SignatureInvalid},
		{"comma separated", "ts=" + ts + ",h1=" + mac(secret, ts), authz.SignatureInvalid},
		{"mutated ts", "ts=" + strconv.FormatInt(t0.Unix()+1, 10) + ";h1=" + mac(secret, ts), authz.SignatureInvalid},
		{"six seconds old", "ts=" + strconv.FormatInt(t0.Unix()-6, 10) + ";h1=" + mac(secret, strconv.FormatInt(t0.Unix()-6, 10)), authz.TimestampOutOfWindow},
		{"six seconds ahead", "ts=" + strconv.FormatInt(t0.Unix()+6, 10) + ";h1=" + mac(secret, strconv.FormatInt(t0.Unix()+6, 10)), authz.TimestampOutOfWindow},
	})
}

func init() { schemeSuites["paddle"] = testPaddleSuite }

func testPaddleSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "paddle",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewPaddle(keys, 0)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"event_id":"evt_1"}`)},
		sigHeader: PaddleSignatureHeader,
		tolerance: PaddleDefaultTolerance,
		malformed: []string{"ts=;h1=", "ts=1700000000;h1=zz", ";;;", "ts=1700000000"},
	})
}
