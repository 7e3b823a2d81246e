package verify

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// slackVector is PROVIDERS.md vector 2, from Slack's documentation.
var slackVector = struct{ secret, ts, body, sig string }{
	"8f742231b10e8888abcd99yyyzzz85a5",
	"1531420618",
	"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
	"v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
}

func TestSlackVector(t *testing.T) {
	at := time.Unix(1531420618, 0)
	cases := []struct {
		name      string
		secret    string
		ts, sig   string
		body      string
		now       time.Time
		want      authz.Reason
		wantMatch bool
	}{
		{"published vector", slackVector.secret, slackVector.ts, slackVector.sig, slackVector.body, at, authz.OK, true},
		{"upper-case V0 prefix", slackVector.secret, slackVector.ts, "V0=" + slackVector.sig[3:], slackVector.body, at, authz.OK, true},
		{"wrong secret", "8f742231b10e8888abcd99yyyzzz85a6", slackVector.ts, slackVector.sig, slackVector.body, at, authz.SignatureInvalid, false},
		{"mutated body", slackVector.secret, slackVector.ts, slackVector.sig, slackVector.body + "&x=1", at, authz.SignatureInvalid, false},
		{"mutated timestamp", slackVector.secret, "1531420619", slackVector.sig, slackVector.body, at, authz.SignatureInvalid, false},
		{"five minutes later", slackVector.secret, slackVector.ts, slackVector.sig, slackVector.body, at.Add(5 * time.Minute), authz.OK, true},
		{"stale", slackVector.secret, slackVector.ts, slackVector.sig, slackVector.body, at.Add(5*time.Minute + time.Second), authz.TimestampOutOfWindow, false},
		{"future", slackVector.secret, slackVector.ts, slackVector.sig, slackVector.body, at.Add(-5*time.Minute - time.Second), authz.TimestampOutOfWindow, false},
		{"v1 prefix", slackVector.secret, slackVector.ts, "v1=" + slackVector.sig[3:], slackVector.body, at, authz.SignatureInvalid, false},
		{"short signature", slackVector.secret, slackVector.ts, slackVector.sig[:20], slackVector.body, at, authz.SignatureInvalid, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := NewSlack(secrets(c.secret), 0)
			r := request("POST", "", []byte(c.body),
				authz.HeaderValue{Name: "X-Slack-Signature", Value: c.sig},
				authz.HeaderValue{Name: "X-Slack-Request-Timestamp", Value: c.ts})
			got, err := v.Verify(r, c.now)
			checkReason(t, err, c.want)
			if want := sha256.Sum256([]byte("v0:" + c.ts + ":" + c.body)); c.wantMatch && hexString(got.ReplayKey) != hexString(want[:]) {
				t.Fatal("replay key is not the SHA-256 of the signed content")
			}
		})
	}
}

func init() { schemeSuites["slack"] = testSlackSuite }

func testSlackSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "slack",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewSlack(keys, 0)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte("token=x&command=%2Fdeploy")},
		sigHeader: SlackSignatureHeader, tsHeader: SlackTimestampHeader,
		tolerance: SlackDefaultTolerance,
		malformed: []string{"v0=", "v0=zz", "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b50"},
	})
}
