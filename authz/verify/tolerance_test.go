package verify

import (
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// TestTolerance: every verifier that checks a timestamp reports the window
// it applies, the provider's default or the configured one, since the
// policy compiler compares it with the replay TTL. Which verifiers are
// Timestamped at all, TestSuites checks against the registry.
func TestTolerance(t *testing.T) {
	_, edPub := discordKeys(1)
	must := func(v authz.Verifier, err error) authz.Verifier {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	httpsigKeys := []HTTPSigKey{{KeyID: "k", Algorithm: AlgHMACSHA256, Key: authz.Secret(rfcHMACKey)}}
	hmacTS := HMACConfig{Secrets: hmacKeys, Header: "x-sig", SignedContent: "{timestamp}.{body}", TimestampHeader: "x-ts"}
	hmacTS7 := hmacTS
	hmacTS7.Tolerance = 7 * time.Minute
	cases := []struct {
		name string
		v    authz.Verifier
		want time.Duration
	}{
		{"stripe default", NewStripe(hmacKeys, 0), StripeDefaultTolerance},
		{"stripe", NewStripe(hmacKeys, 7*time.Minute), 7 * time.Minute},
		{"paddle default", NewPaddle(hmacKeys, 0), PaddleDefaultTolerance},
		{"slack default", NewSlack(hmacKeys, 0), SlackDefaultTolerance},
		{"zoom", NewZoom(hmacKeys, time.Minute), time.Minute},
		{"twitch default", NewTwitch(hmacKeys, 0), TwitchDefaultTolerance},
		{"linear default", NewLinear(hmacKeys, 0), LinearDefaultTolerance},
		{"mailgun", NewMailgun(hmacKeys, time.Hour), time.Hour},
		{"standard webhooks default", must(NewStandardWebhooks(secrets(swSecret), nil, 0)), StandardWebhooksDefaultTolerance},
		{"discord", must(NewDiscord(edPub, 2*time.Minute)), 2 * time.Minute},
		{"sendgrid default", must(NewSendGrid(secrets(sendgridKey), 0)), SendGridDefaultTolerance},
		{"http message signatures default", must(NewHTTPMessageSignatures(httpsigKeys, nil, 0)), HTTPSigDefaultTolerance},
		{"hmac with timestamp, default", must(NewHMAC(hmacTS)), HMACDefaultTolerance},
		{"hmac with timestamp", must(NewHMAC(hmacTS7)), 7 * time.Minute},
		{"hmac without timestamp", must(NewHMAC(HMACConfig{Secrets: hmacKeys, Header: "x-sig"})), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, ok := c.v.(Timestamped)
			if !ok {
				t.Fatalf("%s is not Timestamped", c.v.Scheme())
			}
			if got := ts.Tolerance(); got != c.want {
				t.Fatalf("Tolerance() = %v, want %v", got, c.want)
			}
		})
	}
}
