package verify

import (
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// FuzzVerifiers sends one hostile value in every header any scheme reads,
// with a hostile body, through every verifier and handshake: none may
// panic, and every failure must carry a reason (Unavailable would mean an
// error without one).
func FuzzVerifiers(f *testing.F) {
	f.Add("t=1700000000,v1=00", "1700000000", []byte(`{"type":1,"event":"endpoint.url_validation","payload":{"plainToken":"x"}}`))
	f.Add("v1,AAAA v1a,BBBB", "2023-11-14T22:13:20Z", []byte(`{"challenge":"c"}`))
	f.Add("sha256=", "", []byte("a=b&c=%zz"))
	_, edPub := discordKeys(1)
	sw, _ := NewStandardWebhooks(secrets(swSecret), secrets(swPublicKey), 0)
	discord, _ := NewDiscord(edPub, 0)
	sendgrid, _ := NewSendGrid(secrets(sendgridKey), 0)
	square, _ := NewSquare(hmacKeys, squareURL)
	generic, _ := NewHMAC(HMACConfig{Secrets: hmacKeys, Header: "x-signature", Prefix: "v1=", Separator: ",", SignedContent: "{id}{timestamp}{method}{url}{path}{body}", IDHeader: "webhook-id", TimestampHeader: "webhook-timestamp"})
	httpsig, _ := NewHTTPMessageSignatures([]HTTPSigKey{{KeyID: "k", Algorithm: AlgHMACSHA256, Key: authz.Secret(rfcHMACKey)}}, nil, 0)
	verifiers := []authz.Verifier{
		NewStripe(hmacKeys, 0), NewSlack(hmacKeys, 0), sw, NewShopify(hmacKeys), NewTwilio(hmacKeys),
		discord, sendgrid, square, NewZoom(hmacKeys, 0), NewLinear(hmacKeys, 0),
		NewMeta(hmacKeys, hmacKeys), NewPagerDuty(hmacKeys), NewPaddle(hmacKeys, 0), NewTwitch(hmacKeys, 0),
		NewMailgun(hmacKeys, 0), generic, httpsig,
	}
	headers := []string{
		StripeSignatureHeader, SlackSignatureHeader, SlackTimestampHeader, StandardWebhooksIDHeader,
		StandardWebhooksTimestampHeader, StandardWebhooksSignatureHeader, SvixSignatureHeader,
		ShopifySignatureHeader, TwilioSignatureHeader, DiscordSignatureHeader, DiscordTimestampHeader,
		SendGridSignatureHeader, SendGridTimestampHeader, SquareSignatureHeader, ZoomSignatureHeader,
		ZoomTimestampHeader, LinearSignatureHeader, MetaSignatureHeader, PagerDutySignatureHeader,
		PaddleSignatureHeader, TwitchIDHeader, TwitchTimestampHeader, TwitchSignatureHeader,
		"x-signature", SignatureInputHeader, SignatureHeader, ContentDigestHeader,
	}
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		r := request("POST", "", body)
		for _, h := range headers {
			r.Header[h] = sig
		}
		for _, h := range []string{SlackTimestampHeader, StandardWebhooksTimestampHeader, DiscordTimestampHeader, SendGridTimestampHeader, ZoomTimestampHeader, TwitchTimestampHeader, "webhook-timestamp"} {
			r.Header[h] = ts
		}
		r.Header[TwitchTypeHeader] = "webhook_callback_verification"
		r.Query = string(body)
		for _, v := range verifiers {
			if hs, ok := v.(authz.Handshaker); ok {
				if _, err := hs.Handshake(r, t0); err != nil && reasonOf(err) == authz.Unavailable {
					t.Fatalf("%s handshake: error without a reason: %v", v.Scheme(), err)
				}
			}
			got, err := v.Verify(r, t0)
			if err != nil && reasonOf(err) == authz.Unavailable {
				t.Fatalf("%s: error without a reason: %v", v.Scheme(), err)
			}
			if err == nil && got.ReplayKey == nil {
				t.Fatalf("%s verified without a replay key", v.Scheme())
			}
		}
	})
}
