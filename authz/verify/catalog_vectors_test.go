package verify

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// The provider catalog's test vectors: for every supported provider, a
// delivery signed here, from the provider's documentation, with crypto/hmac
// and friends directly (never hookguard's signers), or the provider's own
// published example, verified through verify: {provider: {name: ...}}.
// Each is then refused with the body changed and with another secret.

// vts is the vectors' delivery time, t0, in the spellings providers use.
var (
	vts     = "1700000000"
	vtsMS   = "1700000000000"
	vtsRFC  = "2023-11-14T22:13:20Z"
	vectNow = t0.Add(time.Second)
)

func hm(h func() hash.Hash, key string, parts ...string) []byte {
	m := hmac.New(h, []byte(key))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func hmKey(h func() hash.Hash, key []byte, parts ...string) []byte {
	return hm(h, string(key), parts...)
}

func hx(b []byte) string  { return hex.EncodeToString(b) }
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// providerVector is a delivery of one provider.
type providerVector struct {
	provider, version string
	// secret is what the policy holds: the secret as the provider shows
	// it, or a public key.
	secret     string
	publicKeys bool
	// notificationURL is the option of providers that sign it.
	notificationURL string
	method, url     string
	contentType     string
	headers         map[string]string
	body            string
	now             time.Time
	// credential: the scheme checks a credential, not the body.
	credential bool
	// bodyUnsigned: the provider signs something other than the body
	// (Mailgun signs its timestamp and token).
	bodyUnsigned bool
}

const vbody = `{"id":"evt_1","type":"test.event","n":1}`

// vectorKey is the Ed25519 key of the Discord vector.
var vectorKey = ed25519.NewKeyFromSeed(make([]byte, 32))

// stdWebhooksVector is the Standard Webhooks specification's published
// example, which every Svix and Standard Webhooks sender verifies with.
func stdWebhooksVector(provider string, svix bool) providerVector {
	id, ts, sig := "webhook-id", "webhook-timestamp", "webhook-signature"
	if svix {
		id, ts, sig = "svix-id", "svix-timestamp", "svix-signature"
	}
	return providerVector{provider: provider, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", body: `{"test": 2432232314}`,
		now:     time.Unix(1614265330, 0),
		headers: map[string]string{id: "msg_p5jXN8AQM9LWM0D4loKWxJek", ts: "1614265330", sig: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}}
}

// bodyHMAC is a vector for the many providers that sign the raw body with
// an HMAC: header, then prefix and the MAC in enc ("hex" or "base64").
func bodyHMAC(provider, header, prefix string, h func() hash.Hash, enc string) providerVector {
	mac := hm(h, "vector-secret", vbody)
	s := hx(mac)
	if enc == "base64" {
		s = b64(mac)
	}
	return providerVector{provider: provider, secret: "vector-secret", body: vbody, headers: map[string]string{header: prefix + s}}
}

// listVector is a vector of a t=<ts>,v1=<sig> list over "<ts>.<body>".
func listVector(provider, header, tsKey, sigKey, ts string) providerVector {
	sig := hx(hm(sha256.New, "vector-secret", ts, ".", vbody))
	return providerVector{provider: provider, secret: "vector-secret", body: vbody,
		headers: map[string]string{header: tsKey + "=" + ts + "," + sigKey + "=" + sig}}
}

func basicVector(provider string) providerVector {
	return providerVector{provider: provider, secret: "hooks:s3cret", body: vbody, credential: true,
		headers: map[string]string{"authorization": "Basic " + b64([]byte("hooks:s3cret"))}}
}

func providerVectors() []providerVector {
	slackBody := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	twilioForm := "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212&ReasonConferenceEnded=test&Reason=Participant"
	airtableBody := `{"base":{"id":"app00000000000000"},"webhook":{"id":"ach00000000000000"},"timestamp":"2022-02-01T21:25:05.663Z"}`
	mandrillForm := "mandrill_events=" + url.QueryEscape(`[{"event":"send"}]`)
	mandrillURL := "https://hooks.example.com/hook"
	hubspotURL := "https://hooks.example.com/hook?portal=1"
	sgBody := `[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]` + "\r\n"
	linearBody := fmt.Sprintf(`{"action":"create","webhookTimestamp":%d}`, t0.UnixMilli())
	mailgunToken := "0123456789abcdef0123456789abcdef0123456789abcdef01"
	mailgunBody := fmt.Sprintf(`{"signature":{"timestamp":"%s","token":"%s","signature":"%s"},"event-data":{"event":"delivered"}}`,
		vts, mailgunToken, hx(hm(sha256.New, "vector-secret", vts, mailgunToken)))
	twitchTS := t0.UTC().Format(time.RFC3339Nano)
	discordSig := ed25519.Sign(vectorKey, []byte(vts+vbody))
	boxBody := `{"type":"webhook_event","webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"Test.txt"}}`
	boxTime := time.Date(2020, 1, 1, 7, 1, 0, 0, time.UTC)
	hubspotV1Body := `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`

	v := []providerVector{
		// Published examples.
		{provider: "github", secret: "It's a Secret to Everybody", body: "Hello, World!",
			headers: map[string]string{"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}},
		{provider: "slack", secret: "8f742231b10e8888abcd99yyyzzz85a5", body: slackBody, now: time.Unix(1531420618, 0),
			headers: map[string]string{"x-slack-request-timestamp": "1531420618", "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"}},
		stdWebhooksVector("standard_webhooks", false),
		stdWebhooksVector("svix", true),
		stdWebhooksVector("clerk", true),
		stdWebhooksVector("replicate", false),
		stdWebhooksVector("openai", false),
		// openai-python's webhook test (tests/api_resources/test_webhooks.py).
		{provider: "openai", secret: "whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c=", now: time.Unix(1750861210, 0),
			body:    `{"id": "evt_685c059ae3a481909bdc86819b066fb6", "object": "event", "created_at": 1750861210, "type": "response.completed", "data": {"id": "resp_123"}}`,
			headers: map[string]string{"webhook-id": "wh_685c059ae39c8190af8c71ed1022a24d", "webhook-timestamp": "1750861210", "webhook-signature": "v1,gUAg4R2hWouRZqRQG4uJypNS8YK885G838+EHb4nKBY="}},
		stdWebhooksVector("resend", true),
		stdWebhooksVector("lithic", false),
		stdWebhooksVector("stytch", true),
		stdWebhooksVector("render", false),
		{provider: "twilio", secret: "12345", url: "https://mycompany.com/myapp.php?foo=1&bar=2", body: twilioForm, contentType: "application/x-www-form-urlencoded",
			headers: map[string]string{"x-twilio-signature": "vOEb5UThFn24KEfnOFLQY2AE5FY="}},
		{provider: "square", secret: "signature-key", notificationURL: "https://webhook.site/webhooks", body: `{"data":{"type":"webhooks","id":"fake_id"}}`,
			headers: map[string]string{"x-square-hmacsha256-signature": "W3FlCNk5IA3ZQ2LHTWoajvzfaDu/OwY2tNHIHC3IUOA="}},
		{provider: "sendgrid", publicKeys: true, secret: sendgridKey, body: sgBody, now: time.Unix(1600112502, 0),
			headers: map[string]string{"x-twilio-email-event-webhook-timestamp": "1600112502",
				"x-twilio-email-event-webhook-signature": "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="}},

		// Deliveries signed here from each provider's documentation.
		{provider: "github", version: "sha1", secret: "vector-secret", body: vbody, headers: map[string]string{"x-hub-signature": "sha1=" + hx(hm(sha1.New, "vector-secret", vbody))}},
		{provider: "gitlab", secret: "gl-token", body: vbody, credential: true, headers: map[string]string{"x-gitlab-token": "gl-token"}},
		{provider: "stripe", secret: "whsec_vector", body: vbody, headers: map[string]string{"stripe-signature": "t=" + vts + ",v1=" + hx(hm(sha256.New, "whsec_vector", vts, ".", vbody))}},
		{provider: "shopify", secret: "vector-secret", body: vbody, headers: map[string]string{"x-shopify-hmac-sha256": b64(hm(sha256.New, "vector-secret", vbody))}},
		{provider: "discord", publicKeys: true, secret: hx(vectorKey.Public().(ed25519.PublicKey)), body: vbody,
			headers: map[string]string{"x-signature-timestamp": vts, "x-signature-ed25519": hx(discordSig)}},
		{provider: "zoom", secret: "vector-secret", body: vbody, headers: map[string]string{"x-zm-request-timestamp": vts, "x-zm-signature": "v0=" + hx(hm(sha256.New, "vector-secret", "v0:", vts, ":", vbody))}},
		{provider: "linear", secret: "vector-secret", body: linearBody, headers: map[string]string{"linear-signature": hx(hm(sha256.New, "vector-secret", linearBody))}},
		bodyHMAC("facebook_graph_api", "x-hub-signature-256", "sha256=", sha256.New, "hex"),
		{provider: "facebook_graph_api", version: "sha1", secret: "vector-secret", body: vbody, headers: map[string]string{"x-hub-signature": "sha1=" + hx(hm(sha1.New, "vector-secret", vbody))}},
		bodyHMAC("facebook_messenger", "x-hub-signature-256", "sha256=", sha256.New, "hex"),
		bodyHMAC("instagram", "x-hub-signature-256", "sha256=", sha256.New, "hex"),
		bodyHMAC("whatsapp", "x-hub-signature-256", "sha256=", sha256.New, "hex"),
		bodyHMAC("pagerduty", "x-pagerduty-signature", "v1=", sha256.New, "hex"),
		{provider: "paddle", secret: "pdl_ntfset_vector", body: vbody, now: t0, headers: map[string]string{"paddle-signature": "ts=" + vts + ";h1=" + hx(hm(sha256.New, "pdl_ntfset_vector", vts, ":", vbody))}},
		{provider: "twitch", secret: "vector-secret", body: vbody, headers: map[string]string{"twitch-eventsub-message-id": "m-1", "twitch-eventsub-message-timestamp": twitchTS,
			"twitch-eventsub-message-signature": "sha256=" + hx(hm(sha256.New, "vector-secret", "m-1", twitchTS, vbody))}},
		{provider: "mailgun", secret: "vector-secret", body: mailgunBody, bodyUnsigned: true, headers: map[string]string{"content-type": "application/json"}},
		bodyHMAC("aftership", "aftership-hmac-sha256", "", sha256.New, "base64"),
		{provider: "airship", secret: "vector-secret", body: vbody, headers: map[string]string{"x-ua-timestamp": vts, "x-ua-signature": hx(hm(sha256.New, "vector-secret", vts, ":", vbody))}},
		bodyHMAC("alchemy", "x-alchemy-signature", "", sha256.New, "hex"),
		bodyHMAC("autodesk", "x-adsk-signature", "sha1hash=", sha1.New, "hex"),
		bodyHMAC("bitbucket", "x-hub-signature", "sha256=", sha256.New, "hex"),
		bodyHMAC("bolt", "x-bolt-hmac-sha256", "", sha256.New, "base64"),
		// The Box SDKs' test delivery, signed with SamplePrimaryKey and
		// SampleSecondaryKey; either key alone verifies it.
		{provider: "box", secret: "SampleSecondaryKey", body: boxBody, now: boxTime, headers: map[string]string{"box-delivery-timestamp": "2020-01-01T00:00:00-07:00",
			"box-signature-primary": "6TfeAW3A1PASkgboxxA5yqHNKOwFyMWuEXny/FPD5hI=", "box-signature-secondary": "v+1CD1Jdo3muIcbpv5lxxgPglOqMfsNHPV899xWYydo="}},
		{provider: "box", secret: "vector-secret", body: vbody, headers: map[string]string{"box-delivery-timestamp": vtsRFC,
			"box-signature-primary": b64(hm(sha256.New, "other-key", vbody, vtsRFC)), "box-signature-secondary": b64(hm(sha256.New, "vector-secret", vbody, vtsRFC))}},
		{provider: "buildkite", secret: "vector-secret", body: vbody, headers: map[string]string{"x-buildkite-signature": "timestamp=" + vts + ",signature=" + hx(hm(sha256.New, "vector-secret", vts, ".", vbody))}},
		listVector("calendly", "calendly-webhook-signature", "t", "v1", vts),
		bodyHMAC("castle", "x-castle-signature", "", sha256.New, "base64"),
		bodyHMAC("circleci", "circleci-signature", "v1=", sha256.New, "hex"),
		bodyHMAC("clearbit", "x-request-signature", "sha1=", sha1.New, "hex"),
		bodyHMAC("coinbase", "x-cc-webhook-signature", "", sha256.New, "hex"),
		bodyHMAC("docusign", "x-docusign-signature-3", "", sha256.New, "base64"),
		bodyHMAC("dropbox", "x-dropbox-signature", "", sha256.New, "hex"),
		{provider: "frameio", secret: "vector-secret", body: vbody, headers: map[string]string{"x-frameio-request-timestamp": vts, "x-frameio-signature": "v0=" + hx(hm(sha256.New, "vector-secret", "v0:", vts, ":", vbody))}},
		listVector("go1", "go1-signature", "t", "v1", vts),
		bodyHMAC("heroku", "heroku-webhook-hmac-sha256", "", sha256.New, "base64"),
		{provider: "hubspot", secret: "vector-secret", method: "POST", url: hubspotURL, body: vbody, headers: map[string]string{"x-hubspot-request-timestamp": vtsMS,
			"x-hubspot-signature-v3": b64(hm(sha256.New, "vector-secret", "POST", hubspotURL, vbody, vtsMS))}},
		// HubSpot's published v2 (a GET) and v1 examples.
		{provider: "hubspot", version: "v2", secret: "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", method: "GET", url: "https://www.example.com/webhook_uri", headers: map[string]string{
			"x-hubspot-signature": "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"}},
		{provider: "hubspot", version: "v1", secret: "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", body: hubspotV1Body, headers: map[string]string{
			"x-hubspot-signature": "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"}},
		{provider: "hubspot", version: "v2", secret: "vector-secret", method: "POST", url: hubspotURL, body: vbody, headers: map[string]string{
			"x-hubspot-signature": hx(sum256("vector-secret" + "POST" + hubspotURL + vbody))}},
		{provider: "hubspot", version: "v1", secret: "vector-secret", body: vbody, headers: map[string]string{"x-hubspot-signature": hx(sum256("vector-secret" + vbody))}},
		bodyHMAC("intercom", "x-hub-signature", "sha1=", sha1.New, "hex"),
		bodyHMAC("jira", "x-hub-signature", "sha256=", sha256.New, "hex"),
		{provider: "mailchimp", secret: "vector-secret", url: mandrillURL, body: mandrillForm, contentType: "application/x-www-form-urlencoded",
			headers: map[string]string{"x-mandrill-signature": b64(hm(sha1.New, "vector-secret", mandrillURL, "mandrill_events", `[{"event":"send"}]`))}},
		{provider: "microsoft_teams", secret: b64([]byte("teams-key-bytes")), body: vbody, headers: map[string]string{"authorization": "HMAC " + b64(hm(sha256.New, "teams-key-bytes", vbody))}},
		bodyHMAC("modern_treasury", "x-signature", "", sha256.New, "hex"),
		bodyHMAC("mongodb", "x-mms-signature", "", sha1.New, "base64"),
		listVector("mux", "mux-signature", "t", "v1", vts),
		bodyHMAC("pusher", "x-pusher-signature", "", sha256.New, "hex"),
		bodyHMAC("sentry", "sentry-hook-signature", "", sha256.New, "hex"),
		bodyHMAC("signal_sciences", "x-sigsci-signature", "", sha256.New, "hex"),
		bodyHMAC("sonatype", "x-nexus-webhook-signature", "", sha1.New, "hex"),
		bodyHMAC("terraform", "x-tfe-notification-signature", "", sha512.New, "hex"),
		listVector("tiktok", "tiktok-signature", "t", "s", vts),
		bodyHMAC("trendmicro_conformity", "x-conformity-signature", "", sha256.New, "hex"),
		bodyHMAC("twitter", "x-twitter-webhooks-signature", "sha256=", sha256.New, "base64"),
		bodyHMAC("typeform", "typeform-signature", "sha256=", sha256.New, "base64"),
		bodyHMAC("webex", "x-spark-signature", "", sha1.New, "hex"),
		bodyHMAC("worldline", "x-gcs-signature", "", sha256.New, "base64"),
		bodyHMAC("xero", "x-xero-signature", "", sha256.New, "base64"),
		{provider: "zendesk", secret: "vector-secret", body: vbody, headers: map[string]string{"x-zendesk-webhook-signature-timestamp": vtsRFC,
			"x-zendesk-webhook-signature": b64(hm(sha256.New, "vector-secret", vtsRFC, vbody))}},
		bodyHMAC("woocommerce", "x-wc-webhook-signature", "", sha256.New, "base64"),
		bodyHMAC("razorpay", "x-razorpay-signature", "", sha256.New, "hex"),
		bodyHMAC("gocardless", "webhook-signature", "", sha256.New, "hex"),
		{provider: "trello", secret: "vector-secret", url: "https://hooks.example.com/trello", body: vbody,
			headers: map[string]string{"x-trello-webhook": b64(hm(sha1.New, "vector-secret", vbody, "https://hooks.example.com/trello"))}},
		bodyHMAC("segment", "x-signature", "", sha1.New, "hex"),
		{provider: "workos", secret: "vector-secret", body: vbody, headers: map[string]string{"workos-signature": "t=" + vtsMS + ", v1=" + hx(hm(sha256.New, "vector-secret", vtsMS, ".", vbody))}},
		listVector("persona", "persona-signature", "t", "v1", vts),
		{provider: "customer_io", secret: "vector-secret", body: vbody, headers: map[string]string{"x-cio-timestamp": vts, "x-cio-signature": hx(hm(sha256.New, "vector-secret", "v0:", vts, ":", vbody))}},
		listVector("tailscale", "tailscale-webhook-signature", "t", "v1", vts),
		{provider: "okta", secret: "okta-auth-value", body: vbody, credential: true, headers: map[string]string{"authorization": "okta-auth-value"}},
		basicVector("postmark"),
		basicVector("pipedrive"),
		basicVector("chargebee"),
		basicVector("azure_devops"),
		basicVector("sparkpost"),
		basicVector("mailjet"),
		bodyHMAC("cal_com", "x-cal-signature-256", "", sha256.New, "hex"),
		{provider: "webflow", secret: "vector-secret", body: vbody, headers: map[string]string{"x-webflow-timestamp": vtsMS, "x-webflow-signature": hx(hm(sha256.New, "vector-secret", vtsMS, ":", vbody))}},
		bodyHMAC("lemon_squeezy", "x-signature", "", sha256.New, "hex"),
		bodyHMAC("gitea", "x-gitea-signature", "", sha256.New, "hex"),
		bodyHMAC("gogs", "x-gogs-signature", "", sha256.New, "hex"),
		// Notion's docs: the verification request's body, signed with its token.
		{provider: "notion", secret: "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl", body: `{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}`,
			headers: map[string]string{"x-notion-signature": "sha256=461e8cbcba8a75c3edd866f0e71280f5a85cbf21eff040ebd10fe266df38a735"}},
		bodyHMAC("clickup", "x-signature", "", sha256.New, "hex"),
		// Airtable's docs: hex HMAC-SHA256 of the notification under the base64-decoded MAC secret.
		{provider: "airtable", secret: b64([]byte("airtable-mac-secret")), body: airtableBody,
			headers: map[string]string{"x-airtable-content-mac": "hmac-sha256=" + hx(hm(sha256.New, "airtable-mac-secret", airtableBody))}},
		bodyHMAC("paystack", "x-paystack-signature", "", sha512.New, "hex"),
		bodyHMAC("checkout_com", "cko-signature", "", sha256.New, "hex"),
		bodyHMAC("dwolla", "x-request-signature-sha-256", "", sha256.New, "hex"),
		bodyHMAC("onfido", "x-sha2-signature", "", sha256.New, "hex"),
		bodyHMAC("veriff", "x-hmac-signature", "", sha256.New, "hex"),
		bodyHMAC("line", "x-line-signature", "", sha256.New, "base64"),
		bodyHMAC("viber", "x-viber-content-signature", "", sha256.New, "hex"),
		{provider: "telegram", secret: "tg-secret-token", body: vbody, credential: true, headers: map[string]string{"x-telegram-bot-api-secret-token": "tg-secret-token"}},
		bodyHMAC("help_scout", "x-helpscout-signature", "", sha1.New, "base64"),
		{provider: "pandadoc", secret: "vector-secret", url: "https://hooks.example.com/pandadoc?signature=" + hx(hm(sha256.New, "vector-secret", vbody)), body: vbody},
		bodyHMAC("hookdeck", "x-hookdeck-signature", "", sha256.New, "base64"),
		bodyHMAC("ably", "x-ably-signature", "", sha256.New, "base64"),
		bodyHMAC("stream", "x-signature", "", sha256.New, "hex"),
		bodyHMAC("sendbird", "x-sendbird-signature", "", sha256.New, "hex"),
		{provider: "onfleet", secret: hx([]byte("onfleet-key")), body: vbody, headers: map[string]string{"x-onfleet-signature": hx(hm(sha512.New, "onfleet-key", vbody))}},
		bodyHMAC("grafana", "x-grafana-alerting-signature", "", sha256.New, "hex"),
		{provider: "configcat", secret: "configcat_whsk_VN3juirnVh5pNvCKd81RYRYchxUX4j3NykbZG2fAy88=", body: "examplebody", now: time.Unix(1669629035, 0),
			headers: map[string]string{"x-configcat-webhook-id": "b616ca659d154a5fb907dd8475792eeb", "x-configcat-webhook-timestamp": "1669629035",
				"x-configcat-webhook-signature-v1": "Ks3cYsu9Lslfo+hVxNC3oQWnsF9e5d73TI5t94D9DRA="}},
		// During a key rotation ConfigCat sends one signature per signing key, comma-separated.
		{provider: "configcat", secret: "vector-secret", body: vbody, headers: map[string]string{"x-configcat-webhook-id": "req-1", "x-configcat-webhook-timestamp": vts,
			"x-configcat-webhook-signature-v1": b64(hm(sha256.New, "other-key", "req-1", vts, vbody)) + "," + b64(hm(sha256.New, "vector-secret", "req-1", vts, vbody))}},
		bodyHMAC("fastspring", "x-fs-signature", "", sha256.New, "base64"),
		bodyHMAC("acuity", "x-acuity-signature", "", sha256.New, "base64"),
		bodyHMAC("snyk", "x-hub-signature", "sha256=", sha256.New, "hex"),
		bodyHMAC("optimizely", "x-hub-signature", "sha1=", sha1.New, "hex"),
		{provider: "revolut", secret: "vector-secret", body: vbody, headers: map[string]string{"revolut-request-timestamp": vtsMS, "revolut-signature": "v1=" + hx(hm(sha256.New, "vector-secret", "v1.", vtsMS, ".", vbody))}},
		bodyHMAC("greenhouse", "signature", "sha256 ", sha256.New, "hex"),
		bodyHMAC("ashby", "ashby-signature", "sha256=", sha256.New, "hex"),
		bodyHMAC("easypost", "x-hmac-signature", "hmac-sha256-hex=", sha256.New, "hex"),
	}
	return v
}

func sum256(s string) []byte {
	b := sha256.Sum256([]byte(s))
	return b[:]
}

// buildVectorProvider builds the provider verifier a vector is checked
// with, the policy's secret reference resolving to secret.
func buildVectorProvider(t testing.TB, c providerVector, secret string) authz.Verifier {
	t.Helper()
	cfg := &policyv1.ProviderVerify{Name: c.provider, Version: c.version, NotificationUrl: c.notificationURL}
	ref := []*policyv1.SecretRef{{Source: &policyv1.SecretRef_Env{Env: "K"}}}
	if c.publicKeys {
		cfg.PublicKeys = ref
	} else {
		cfg.Secrets = ref
	}
	v, err := buildProvider(cfg, mapEnv{"K": secret})
	if err != nil {
		t.Fatalf("build %s: %v", c.provider, err)
	}
	return v
}

func (c providerVector) request() *authz.Request {
	u := c.url
	if u == "" {
		u = "https://hooks.example.com/hook"
	}
	method := c.method
	if method == "" {
		method = "POST"
	}
	var hv []authz.HeaderValue
	for k, v := range c.headers {
		hv = append(hv, authz.HeaderValue{Name: k, Value: v})
	}
	r := request(method, u, []byte(c.body), hv...)
	if c.contentType != "" {
		r.Header["content-type"] = c.contentType
	}
	return r
}

// TestProviderVectors verifies every vector, then refuses it with the body
// changed (unless the scheme checks only a credential) and under another
// secret; and checks that every supported provider has a vector.
func TestProviderVectors(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range providerVectors() {
		name := c.provider
		if c.version != "" {
			name += "/" + c.version
		}
		covered[c.provider] = true
		t.Run(name, func(t *testing.T) {
			now := c.now
			if now.IsZero() {
				now = vectNow
			}
			v := buildVectorProvider(t, c, c.secret)
			if v.Scheme() != c.provider {
				t.Errorf("Scheme() = %q, want %q", v.Scheme(), c.provider)
			}
			got, err := v.Verify(c.request(), now)
			checkReason(t, err, authz.OK)
			if _, isCredential := v.(authz.CredentialVerifier); isCredential && len(v.(authz.CredentialVerifier).CredentialHeaders()) > 0 != c.credential {
				t.Errorf("credential headers %v, want a credential scheme: %v", v.(authz.CredentialVerifier).CredentialHeaders(), c.credential)
			}
			if !c.credential && got.ReplayKey == nil {
				t.Error("no replay key")
			}
			if !c.credential && !c.bodyUnsigned {
				r := c.request()
				r.Body = append(r.Body, ' ')
				if _, err := v.Verify(r, now); reasonOf(err) == authz.OK {
					t.Error("accepted a changed body")
				}
			}
			if c.publicKeys {
				return
			}
			other := buildVectorProvider(t, c, otherSecretLike(c.secret))
			if _, err := other.Verify(c.request(), now); reasonOf(err) != authz.SignatureInvalid {
				t.Errorf("another secret: %v, want signature_invalid", err)
			}
		})
	}
	for _, p := range Providers() {
		if p.Supported() && !covered[p.Name] {
			t.Errorf("%s: supported, but no test vector", p.Name)
		}
	}
}

// otherSecretLike returns a secret of the same form as s (base64, hex,
// whsec_, user:password) that is not s.
func otherSecretLike(s string) string {
	switch {
	case strings.HasPrefix(s, "whsec_"):
		return "whsec_" + b64([]byte("another secret entirely"))
	case strings.Contains(s, ":"):
		return "hooks:other"
	}
	if _, err := hex.DecodeString(s); err == nil && len(s) > 8 {
		return hx([]byte("another key"))
	}
	if _, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err == nil {
		return b64([]byte("another key"))
	}
	return s + "-other"
}

// TestProviderDeliveryIDs: a provider's delivery id header is reported as
// the delivery id; a header that names something else (Worldline's
// X-GCS-KeyId names the signing key, the same on every delivery) is not,
// since an upstream that deduplicates on the reported id would drop every
// delivery after the first.
func TestProviderDeliveryIDs(t *testing.T) {
	for _, c := range []struct {
		vector     providerVector
		idHeader   string
		reportedID string
	}{
		{bodyHMAC("worldline", "x-gcs-signature", "", sha256.New, "base64"), "x-gcs-keyid", ""},
		{bodyHMAC("gitea", "x-gitea-signature", "", sha256.New, "hex"), "x-gitea-delivery", "d-1"},
		{bodyHMAC("woocommerce", "x-wc-webhook-signature", "", sha256.New, "base64"), "x-wc-webhook-delivery-id", "d-1"},
	} {
		c.vector.headers[c.idHeader] = "d-1"
		v := buildVectorProvider(t, c.vector, c.vector.secret)
		got, err := v.Verify(c.vector.request(), vectNow)
		if err != nil {
			t.Fatalf("%s: %v", c.vector.provider, err)
		}
		if got.DeliveryID != c.reportedID {
			t.Errorf("%s: delivery id %q, want %q", c.vector.provider, got.DeliveryID, c.reportedID)
		}
	}
}
