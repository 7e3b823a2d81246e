package e2e

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

// providersPolicy has one endpoint per provider whose scheme has a part that
// only a real proxy in front can get wrong: the URL Twilio signs, the
// timestamps, the handshakes hookguard answers itself.
const providersPolicy = `
endpoints:
  - name: stripe
    match: {path: /webhooks/stripe}
    verify: {stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}]}}
  - name: slack
    match: {path: /webhooks/slack}
    verify: {slack: {secrets: [{env: SLACK_SIGNING_SECRET}]}}
  - name: standard-webhooks
    match: {path: /webhooks/standard}
    verify: {standard_webhooks: {public_keys: [{env: STANDARD_WEBHOOKS_PUBLIC_KEY}]}}
  - name: shopify
    match: {path: /webhooks/shopify}
    verify: {shopify: {secrets: [{env: SHOPIFY_CLIENT_SECRET}]}}
  - name: twilio
    match: {path_prefix: /webhooks/twilio}
    verify: {twilio: {secrets: [{env: TWILIO_AUTH_TOKEN}]}}
  - name: zoom
    match: {path: /webhooks/zoom}
    verify: {zoom: {secrets: [{env: ZOOM_SECRET_TOKEN}]}}
  - name: twitch
    match: {path: /webhooks/twitch}
    verify: {twitch: {secrets: [{env: TWITCH_EVENTSUB_SECRET}]}}
  - name: calendly
    match: {path: /webhooks/calendly}
    verify: {provider: {name: calendly, secrets: [{env: CALENDLY_WEBHOOK_SIGNING_KEY}]}}
  - name: x
    match: {path: /webhooks/x, methods: [GET, POST]}
    verify: {provider: {name: twitter, secrets: [{env: TWITTER_CONSUMER_SECRET}]}}
  - name: postmark
    match: {path: /webhooks/postmark}
    verify: {basic_auth: {secrets: [{env: POSTMARK_BASIC_AUTH}]}}
`

// Provider secrets for this run. The Standard Webhooks key pair is made
// fresh; hookguard holds only the public half.
var (
	providerSecrets = map[string]string{
		"STRIPE_WEBHOOK_SECRET":        "whsec_e2e" + randomHex(12),
		"SLACK_SIGNING_SECRET":         randomHex(16),
		"SHOPIFY_CLIENT_SECRET":        "shpss_" + randomHex(16),
		"TWILIO_AUTH_TOKEN":            randomHex(16),
		"ZOOM_SECRET_TOKEN":            randomHex(11),
		"TWITCH_EVENTSUB_SECRET":       randomHex(16),
		"CALENDLY_WEBHOOK_SIGNING_KEY": randomHex(16),
		"TWITTER_CONSUMER_SECRET":      randomHex(16),
		"POSTMARK_BASIC_AUTH":          "hooks:" + randomHex(8),
	}
	swPublic, swPrivate, _ = ed25519.GenerateKey(rand.Reader)

	providersFixture = newFixture("providers", map[string]string{"providers.yaml": providersPolicy}, func() []string {
		env := []string{"STANDARD_WEBHOOKS_PUBLIC_KEY=whpk_" + base64.StdEncoding.EncodeToString(swPublic)}
		for k, v := range providerSecrets {
			env = append(env, k+"="+v)
		}
		return env
	})
)

// providersEnv returns the stack whose hookguard serves providersPolicy.
func providersEnv(t *testing.T) *stack.Stack { return providersFixture.get(t) }

// mac is an HMAC computed here, independently of hookguard's signers.
func mac(h func() hash.Hash, key string, parts ...string) []byte {
	m := hmac.New(h, []byte(key))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func now() string { return strconv.FormatInt(time.Now().Unix(), 10) }

// wantVerified checks an allowed delivery reached the upstream once,
// marked verified by the scheme.
func wantVerified(t *testing.T, s *stack.Stack, r response, scheme string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("got %s, want 200", r)
	}
	got := onlyUpstream(t, s)
	if v := got.Header.Get("X-Hookguard-Verified"); v != scheme {
		t.Errorf("upstream x-hookguard-verified %q, want %q", v, scheme)
	}
	s.Upstream.Reset()
}

func TestStripeThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	secret := providerSecrets["STRIPE_WEBHOOK_SECRET"]
	body := []byte(`{"id":"evt_1","type":"payment_intent.succeeded"}`)
	ts := now()
	// During a secret roll Stripe sends one v1 per secret; an unknown
	// scheme entry is skipped.
	h := http.Header{"Stripe-Signature": {fmt.Sprintf("t=%s,v1=%s,v1=%s,v0=%s", ts,
		hex.EncodeToString(mac(sha256.New, "whsec_old", ts, ".", string(body))),
		hex.EncodeToString(mac(sha256.New, secret, ts, ".", string(body))), strings.Repeat("a", 64))}}
	wantVerified(t, s, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/stripe"), h, body), "stripe")

	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	h = http.Header{"Stripe-Signature": {"t=" + stale + ",v1=" + hex.EncodeToString(mac(sha256.New, secret, stale, ".", string(body)))}}
	wantDenial(t, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/stripe"), h, body), http.StatusUnauthorized, "timestamp_out_of_window", "stripe")
	wantNothingUpstream(t, s)
}

func TestSlackFormThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	body := []byte("token=x&team_id=T1&command=%2Fdeploy&text=prod+now&response_url=https%3A%2F%2Fhooks.slack.com%2Fx")
	ts := now()
	h := http.Header{
		"Content-Type":              {"application/x-www-form-urlencoded"},
		"X-Slack-Request-Timestamp": {ts},
		"X-Slack-Signature":         {"v0=" + hex.EncodeToString(mac(sha256.New, providerSecrets["SLACK_SIGNING_SECRET"], "v0:", ts, ":", string(body)))},
	}
	wantVerified(t, s, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/slack"), h, body), "slack")
}

func TestStandardWebhooksEd25519ThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	id, ts, body := "msg_"+randomHex(8), now(), []byte(`{"type":"invoice.paid","n":1}`)
	sig := ed25519.Sign(swPrivate, []byte(id+"."+ts+"."+string(body)))
	h := http.Header{
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {ts},
		// An unknown version first: skipped, not an error.
		"Webhook-Signature": {"v9,AAAA v1a," + base64.StdEncoding.EncodeToString(sig)},
	}
	url := s.URL("/webhooks/standard")
	wantVerified(t, s, send(t, s.Client11, http.MethodPost, url, h, body), "standard_webhooks")
	// The message id is signed, so it is the replay key: the same message
	// again is refused.
	wantDenial(t, send(t, s.Client11, http.MethodPost, url, h, body), http.StatusConflict, "replayed", "standard-webhooks")
	// Under the svix-* names, signed by a key hookguard does not hold.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	h = http.Header{"Svix-Id": {id + "b"}, "Svix-Timestamp": {ts},
		"Svix-Signature": {"v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(other, []byte(id+"b."+ts+"."+string(body))))}}
	wantDenial(t, send(t, s.Client11, http.MethodPost, url, h, body), http.StatusUnauthorized, "signature_invalid", "standard-webhooks")
	wantNothingUpstream(t, s)
}

func TestShopifyThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	body := []byte(`{"id":820982911946154508,"email":"jon@example.com"}`)
	h := http.Header{
		"X-Shopify-Hmac-Sha256": {base64.StdEncoding.EncodeToString(mac(sha256.New, providerSecrets["SHOPIFY_CLIENT_SECRET"], string(body)))},
		"X-Shopify-Webhook-Id":  {newUUID()},
		"Content-Type":          {"application/json"},
	}
	wantVerified(t, s, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/shopify"), h, body), "shopify")
}

// twilioSignature is Twilio's scheme computed here: HMAC-SHA1 over the URL
// as Twilio requested it, then each form parameter, sorted, name then value.
func twilioSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k + v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac(sha1.New, token, b.String()))
}

// Twilio signs the URL it requested; hookguard rebuilds it from what Envoy
// reports (scheme, authority, path, raw query). Behind Envoy, with the port
// in the authority and without it (the default port), both must verify.
func TestTwilioFormThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	token := providerSecrets["TWILIO_AUTH_TOKEN"]
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"}, "Reason": {"Participant left"}}
	body := []byte(form.Encode())
	path := "/webhooks/twilio/voice?foo=1&bar=a%20b"
	port := strconv.Itoa(s.Envoy.Config.ListenPort)

	tests := []struct {
		name, authority, signedURL string
		want                       int
	}{
		{"authority with port", "localhost:" + port, "https://localhost:" + port + path, http.StatusOK},
		// Twilio requested https://localhost/...: the client sends no port,
		// and Twilio's SDKs sign with or without :443; hookguard tries both.
		{"default port omitted, signed without", "localhost", "https://localhost" + path, http.StatusOK},
		{"default port omitted, signed with :443", "localhost", "https://localhost:443" + path, http.StatusOK},
		{"signed for another path", "localhost:" + port, "https://localhost:" + port + "/webhooks/twilio/sms?foo=1&bar=a%20b", http.StatusUnauthorized},
		{"signed over http", "localhost:" + port, "http://localhost:" + port + path, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL(path), strings.NewReader(string(body)))
			req.Host = tc.authority
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", twilioSignature(token, tc.signedURL, form))
			req.Header.Set("I-Twilio-Idempotency-Token", newUUID())
			resp, err := s.Client11.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if n := len(s.Upstream.Requests()); n != 3 {
		t.Errorf("upstream saw %d requests, want the 3 allowed", n)
	}
}

// Zoom's endpoint.url_validation is answered by hookguard itself: the
// upstream never sees it and never needs the secret token.
func TestZoomHandshakeThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	secret := providerSecrets["ZOOM_SECRET_TOKEN"]
	plain := "qgg8vlvZRS6UYooatFL8Aw"
	body := []byte(`{"payload":{"plainToken":"` + plain + `"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)
	ts := now()
	h := http.Header{"X-Zm-Request-Timestamp": {ts}, "Content-Type": {"application/json"},
		"X-Zm-Signature": {"v0=" + hex.EncodeToString(mac(sha256.New, secret, "v0:", ts, ":", string(body)))}}
	r := send(t, s.Client11, http.MethodPost, s.URL("/webhooks/zoom"), h, body)
	if r.Status != http.StatusOK {
		t.Fatalf("got %s", r)
	}
	var got struct{ PlainToken, EncryptedToken string }
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("handshake body %q: %v", r.Body, err)
	}
	if want := hex.EncodeToString(mac(sha256.New, secret, plain)); got.PlainToken != plain || got.EncryptedToken != want {
		t.Errorf("handshake answer %+v, want encryptedToken %s", got, want)
	}
	wantNothingUpstream(t, s)

	// An unsigned validation request is refused: nobody can make hookguard
	// compute HMACs with the secret for them.
	h.Set("X-Zm-Signature", "v0="+strings.Repeat("0", 64))
	wantDenial(t, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/zoom"), h, body), http.StatusUnauthorized, "signature_invalid", "zoom")
}

func TestTwitchHandshakeThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	secret := providerSecrets["TWITCH_EVENTSUB_SECRET"]
	challenge := "pogchamp-kappa-360noscope-vohiyo"
	body := []byte(`{"challenge":"` + challenge + `","subscription":{"id":"f1c2a387","type":"channel.follow","version":"2"}}`)
	id, ts := newUUID(), time.Now().UTC().Format(time.RFC3339Nano)
	h := http.Header{
		"Twitch-Eventsub-Message-Id":        {id},
		"Twitch-Eventsub-Message-Timestamp": {ts},
		"Twitch-Eventsub-Message-Type":      {"webhook_callback_verification"},
		"Twitch-Eventsub-Message-Signature": {"sha256=" + hex.EncodeToString(mac(sha256.New, secret, id, ts, string(body)))},
		"Content-Type":                      {"application/json"},
	}
	r := send(t, s.Client11, http.MethodPost, s.URL("/webhooks/twitch"), h, body)
	if r.Status != http.StatusOK || string(r.Body) != challenge || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("got %s, want 200 text/plain %q", r, challenge)
	}
	wantNothingUpstream(t, s)

	// A notification goes upstream, verified.
	id = newUUID()
	notification := []byte(`{"subscription":{"type":"channel.follow"},"event":{"user_name":"x"}}`)
	h.Set("Twitch-Eventsub-Message-Id", id)
	h.Set("Twitch-Eventsub-Message-Type", "notification")
	h.Set("Twitch-Eventsub-Message-Signature", "sha256="+hex.EncodeToString(mac(sha256.New, secret, id, ts, string(notification))))
	wantVerified(t, s, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/twitch"), h, notification), "twitch")
}

// A provider of the catalog through Envoy: Calendly's t=,v1= list, signed
// here from Calendly's documentation; the upstream sees the provider's
// name.
func TestCatalogProviderThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	key := providerSecrets["CALENDLY_WEBHOOK_SIGNING_KEY"]
	body := []byte(`{"event":"invitee.created","payload":{"email":"a@example.com"}}`)
	ts := now()
	h := http.Header{"Calendly-Webhook-Signature": {"t=" + ts + ",v1=" + hex.EncodeToString(mac(sha256.New, key, ts, ".", string(body)))}, "Content-Type": {"application/json"}}
	wantVerified(t, s, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/calendly"), h, body), "calendly")
	wantDenial(t, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/calendly"), h, body), http.StatusConflict, "replayed", "calendly")
	stale := strconv.FormatInt(time.Now().Add(-4*time.Minute).Unix(), 10)
	h.Set("Calendly-Webhook-Signature", "t="+stale+",v1="+hex.EncodeToString(mac(sha256.New, key, stale, ".", string(body))))
	wantDenial(t, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/calendly"), h, body), http.StatusUnauthorized, "timestamp_out_of_window", "calendly")
	wantNothingUpstream(t, s)
}

// X's CRC check is answered by hookguard, only for tokens of X's shape,
// and a delivery that is not a JSON object is refused even when its
// signature is the CRC answer for its bytes.
func TestXCRCThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	secret := providerSecrets["TWITTER_CONSUMER_SECRET"]
	token := "Y3JjLXRva2VuLWUyZQ"
	r := send(t, s.Client11, http.MethodGet, s.URL("/webhooks/x?crc_token="+token), nil, nil)
	want := "sha256=" + base64.StdEncoding.EncodeToString(mac(sha256.New, secret, token))
	var got struct {
		ResponseToken string `json:"response_token"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &got) != nil || got.ResponseToken != want {
		t.Fatalf("got %s, want response_token %s", r, want)
	}
	wantNothingUpstream(t, s)
	forged := url.QueryEscape(`{"direct_message_events":[]}`)
	wantDenial(t, send(t, s.Client11, http.MethodGet, s.URL("/webhooks/x?crc_token="+forged), nil, nil), http.StatusUnauthorized, "signature_invalid", "x")
	// The answer above signs the token's bytes, which no delivery may be.
	h := http.Header{"X-Twitter-Webhooks-Signature": {want}}
	wantDenial(t, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/x"), h, []byte(token)), http.StatusUnauthorized, "signature_invalid", "x")
	body := []byte(`{"for_user_id":"2244994945","tweet_create_events":[]}`)
	h.Set("X-Twitter-Webhooks-Signature", "sha256="+base64.StdEncoding.EncodeToString(mac(sha256.New, secret, string(body))))
	wantVerified(t, s, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/x"), h, body), "twitter")
}

// Basic authentication through Envoy: the credentials are checked and
// removed before the upstream.
func TestBasicAuthThroughEnvoy(t *testing.T) {
	s := providersEnv(t)
	body := []byte(`{"RecordType":"Delivery"}`)
	h := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(providerSecrets["POSTMARK_BASIC_AUTH"]))}}
	r := send(t, s.Client11, http.MethodPost, s.URL("/webhooks/postmark"), h, body)
	if r.Status != http.StatusOK {
		t.Fatalf("got %s", r)
	}
	got := onlyUpstream(t, s)
	if got.Header.Get("Authorization") != "" || got.Header.Get("X-Hookguard-Verified") != "basic_auth" {
		t.Errorf("upstream got authorization %q, verified %q", got.Header.Get("Authorization"), got.Header.Get("X-Hookguard-Verified"))
	}
	s.Upstream.Reset()
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hooks:guess")))
	wantDenial(t, send(t, s.Client11, http.MethodPost, s.URL("/webhooks/postmark"), h, body), http.StatusUnauthorized, "signature_invalid", "postmark")
	wantNothingUpstream(t, s)
}
