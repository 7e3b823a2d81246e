package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// What a stranger can make hookguard spend. For every registered scheme,
// forgedSamples holds a configuration with three keys in rotation and the
// forged request that costs its verifier most: a 1 MiB body, as many
// well-formed signatures as the scheme's parser reads, and everything else
// right (timestamps in the window, digests matching the body), so that the
// request reaches the cryptography before it is refused.
// BenchmarkForged compares each with a valid GitHub delivery of the same
// body.

// forgedBodySize is the body size of the forged requests.
const forgedBodySize = 1 << 20

// rotation is how many keys each sample configures, as during a rotation.
const rotation = 3

// A forgedSample is one configuration of a scheme and its most expensive
// forged request.
type forgedSample struct {
	// variant tells several samples of one scheme apart; "" for one.
	variant string
	// config is the scheme's configuration, built with New through
	// sampleEnv.
	config *policyv1.Verify
	// forge returns the forged request, at t0.
	forge func() *authz.Request
}

// name is the sample's name in benchmarks and subtests.
func (s forgedSample) name(scheme string) string {
	if s.variant == "" {
		return scheme
	}
	return scheme + "/" + s.variant
}

// forgedSamples maps each scheme to its samples. TestForgedSamples fails for
// a registered scheme without one, so a new scheme cannot skip the bound.
var forgedSamples = map[string][]forgedSample{
	"github": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Github{Github: &policyv1.GitHubVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: GitHubSignatureHeader, Value: "sha256=" + fakeHex(sha256.Size, 0)})
		},
	}},
	"basic_auth": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_BasicAuth{BasicAuth: &policyv1.BasicAuthVerify{Secrets: sampleRefs("BASIC")}}},
		forge: func() *authz.Request {
			creds := base64.StdEncoding.EncodeToString([]byte("hooks:" + strings.Repeat("p", 700)))
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: "authorization", Value: "Basic " + creds})
		},
	}},
	// The catalog's presets run on the mechanisms above; these are the
	// shapes only the generic HMAC scheme's extensions make.
	// TestForgedCost also forges a delivery of every preset.
	"provider": {
		{
			variant: "mailchimp",
			config:  providerSample("mailchimp", ""),
			forge: func() *authz.Request {
				// {url}{form}: the form's parameters, decoded and sorted.
				r := forgedRequest(forgedFormBody(""), authz.HeaderValue{Name: "x-mandrill-signature", Value: fakeBase64(20, 0)})
				r.Header["content-type"] = formType
				return r
			},
		},
		{
			variant: "hubspot/v2",
			config:  providerSample("hubspot", "v2"),
			forge: func() *authz.Request {
				// A keyed hash, SHA-256 of secret, method, URL and body.
				return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: "x-hubspot-signature", Value: fakeHex(sha256.Size, 0)})
			},
		},
		{
			variant: "docusign",
			config:  providerSample("docusign", ""),
			forge: func() *authz.Request {
				// Ten signature headers.
				var h []authz.HeaderValue
				for i := 1; i <= 10; i++ {
					h = append(h, authz.HeaderValue{Name: "x-docusign-signature-" + strconv.Itoa(i), Value: fakeBase64(sha256.Size, i)})
				}
				return forgedRequest(forgedOpaqueBody(), h...)
			},
		},
		{
			variant: "calendly",
			config:  providerSample("calendly", ""),
			forge: func() *authz.Request {
				// A t=…,v1=… list, as long as it may be.
				h := "t=" + unixText(t0)
				for i := 1; i < maxSignatures; i++ {
					h += ",v1=" + fakeHex(sha256.Size, i)
				}
				return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: "calendly-webhook-signature", Value: h})
			},
		},
	},
	"token": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Token{Token: &policyv1.TokenVerify{Header: "x-gitlab-token", Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: "x-gitlab-token", Value: strings.Repeat("t", 4096)})
		},
	}},
	"stripe": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Stripe{Stripe: &policyv1.StripeVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			h := "t=" + unixText(t0)
			for i := range maxSignatures {
				h += ",v1=" + fakeHex(sha256.Size, i)
			}
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: StripeSignatureHeader, Value: h})
		},
	}},
	"paddle": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Paddle{Paddle: &policyv1.PaddleVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			h := "ts=" + unixText(t0)
			for i := range maxSignatures {
				h += ";h1=" + fakeHex(sha256.Size, i)
			}
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: PaddleSignatureHeader, Value: h})
		},
	}},
	"pagerduty": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Pagerduty{Pagerduty: &policyv1.PagerDutyVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			sigs := make([]string, maxSignatures)
			for i := range sigs {
				sigs[i] = "v1=" + fakeHex(sha256.Size, i)
			}
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: PagerDutySignatureHeader, Value: strings.Join(sigs, ",")})
		},
	}},
	"slack": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Slack{Slack: &policyv1.SlackVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(),
				authz.HeaderValue{Name: SlackSignatureHeader, Value: "v0=" + fakeHex(sha256.Size, 0)},
				authz.HeaderValue{Name: SlackTimestampHeader, Value: unixText(t0)})
		},
	}},
	"zoom": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Zoom{Zoom: &policyv1.ZoomVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(),
				authz.HeaderValue{Name: ZoomSignatureHeader, Value: "v0=" + fakeHex(sha256.Size, 0)},
				authz.HeaderValue{Name: ZoomTimestampHeader, Value: unixText(t0)})
		},
	}},
	"shopify": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Shopify{Shopify: &policyv1.ShopifyVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: ShopifySignatureHeader, Value: fakeBase64(sha256.Size, 0)})
		},
	}},
	"square": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Square{Square: &policyv1.SquareVerify{Secrets: sampleRefs("MAC"), NotificationUrl: "https://hooks.example.com/hook"}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: SquareSignatureHeader, Value: fakeBase64(sha256.Size, 0)})
		},
	}},
	"linear": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Linear{Linear: &policyv1.LinearVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedJSONBody(`"webhookTimestamp":`+strconv.FormatInt(t0.UnixMilli(), 10)),
				authz.HeaderValue{Name: LinearSignatureHeader, Value: fakeHex(sha256.Size, 0)})
		},
	}},
	"meta": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Meta{Meta: &policyv1.MetaVerify{Secrets: sampleRefs("MAC"), VerifyTokens: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(), authz.HeaderValue{Name: MetaSignatureHeader, Value: "sha256=" + fakeHex(sha256.Size, 0)})
		},
	}},
	"twitch": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Twitch{Twitch: &policyv1.TwitchVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			// A callback verification: the handshake checks it.
			return forgedRequest(forgedOpaqueBody(),
				authz.HeaderValue{Name: TwitchIDHeader, Value: "forged-1"},
				authz.HeaderValue{Name: TwitchTimestampHeader, Value: t0.UTC().Format(time.RFC3339Nano)},
				authz.HeaderValue{Name: TwitchSignatureHeader, Value: "sha256=" + fakeHex(sha256.Size, 0)},
				authz.HeaderValue{Name: TwitchTypeHeader, Value: "webhook_callback_verification"})
		},
	}},
	"hmac": {{
		variant: "sha512",
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Hmac{Hmac: &policyv1.HMACVerify{
			Secrets: sampleRefs("MAC"), Algorithm: policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA512,
			Header: "x-acme-signature", Prefix: "sha512=", Separator: ",",
			SignedContent: "{id}.{timestamp}.{body}", IdHeader: "x-acme-id", TimestampHeader: "x-acme-timestamp",
		}}},
		forge: func() *authz.Request {
			sigs := make([]string, maxSignatures)
			for i := range sigs {
				sigs[i] = "sha512=" + fakeHex(sha512.Size, i)
			}
			return forgedRequest(forgedOpaqueBody(),
				authz.HeaderValue{Name: "x-acme-signature", Value: strings.Join(sigs, ",")},
				authz.HeaderValue{Name: "x-acme-id", Value: "forged-1"},
				authz.HeaderValue{Name: "x-acme-timestamp", Value: unixText(t0)})
		},
	}},
	"mailgun": {
		{
			variant: "json",
			config:  &policyv1.Verify{Scheme: &policyv1.Verify_Mailgun{Mailgun: &policyv1.MailgunVerify{Secrets: sampleRefs("MAC")}}},
			forge: func() *authz.Request {
				sig := fmt.Sprintf(`"signature":{"timestamp":%q,"token":%q,"signature":%q}`, unixText(t0), fakeHex(25, 0), fakeHex(sha256.Size, 0))
				r := forgedRequest(forgedJSONBody(sig))
				r.Header["content-type"] = "application/json"
				return r
			},
		},
		{
			variant: "form",
			config:  &policyv1.Verify{Scheme: &policyv1.Verify_Mailgun{Mailgun: &policyv1.MailgunVerify{Secrets: sampleRefs("MAC")}}},
			forge: func() *authz.Request {
				head := "timestamp=" + unixText(t0) + "&token=" + fakeHex(25, 0) + "&signature=" + fakeHex(sha256.Size, 0)
				r := forgedRequest(forgedPairsBody(head))
				r.Header["content-type"] = formType
				return r
			},
		},
	},
	"twilio": {{
		variant: "form",
		config:  &policyv1.Verify{Scheme: &policyv1.Verify_Twilio{Twilio: &policyv1.TwilioVerify{Secrets: sampleRefs("MAC")}}},
		forge: func() *authz.Request {
			// A host without a port: the URL is tried with and without
			// :443.
			r := forgedRequest(forgedFormBody(""), authz.HeaderValue{Name: TwilioSignatureHeader, Value: fakeBase64(20, 0)})
			r.Header["content-type"] = formType
			return r
		},
	}},
	"discord": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Discord{Discord: &policyv1.DiscordVerify{PublicKeys: sampleRefs("ED_HEX")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(),
				authz.HeaderValue{Name: DiscordSignatureHeader, Value: hex.EncodeToString(fakeEd25519Signature(0))},
				authz.HeaderValue{Name: DiscordTimestampHeader, Value: unixText(t0)})
		},
	}},
	"sendgrid": {{
		config: &policyv1.Verify{Scheme: &policyv1.Verify_Sendgrid{Sendgrid: &policyv1.SendGridVerify{PublicKeys: sampleRefs("P256")}}},
		forge: func() *authz.Request {
			return forgedRequest(forgedOpaqueBody(),
				authz.HeaderValue{Name: SendGridSignatureHeader, Value: base64.StdEncoding.EncodeToString(fakeECDSASignatureDER())},
				authz.HeaderValue{Name: SendGridTimestampHeader, Value: unixText(t0)})
		},
	}},
	"standard_webhooks": {
		{
			variant: "v1",
			config:  &policyv1.Verify{Scheme: &policyv1.Verify_StandardWebhooks{StandardWebhooks: &policyv1.StandardWebhooksVerify{Secrets: sampleRefs("WHSEC")}}},
			forge: func() *authz.Request {
				sigs := make([]string, maxSignatures)
				for i := range sigs {
					sigs[i] = "v1," + fakeBase64(sha256.Size, i)
				}
				return forgedStandardWebhooks(sigs)
			},
		},
		{
			variant: "v1a",
			config:  &policyv1.Verify{Scheme: &policyv1.Verify_StandardWebhooks{StandardWebhooks: &policyv1.StandardWebhooksVerify{PublicKeys: sampleRefs("WHPK")}}},
			forge: func() *authz.Request {
				sigs := make([]string, maxSignatures)
				for i := range sigs {
					sigs[i] = "v1a," + base64.StdEncoding.EncodeToString(fakeEd25519Signature(i))
				}
				return forgedStandardWebhooks(sigs)
			},
		},
	},
	"http_message_signatures": {{
		variant: "shared keyid",
		config: &policyv1.Verify{Scheme: &policyv1.Verify_HttpMessageSignatures{HttpMessageSignatures: &policyv1.HTTPMessageSignaturesVerify{
			// One keyid for all three: several keys may share one during
			// a rotation, so every signature has three candidates.
			Keys: []*policyv1.HTTPSignatureKey{
				{Keyid: "partner", Algorithm: policyv1.HTTPSignatureAlgorithm_HTTP_SIGNATURE_ALGORITHM_ED25519, Key: sampleRef("ED_HEX_0")},
				{Keyid: "partner", Algorithm: policyv1.HTTPSignatureAlgorithm_HTTP_SIGNATURE_ALGORITHM_ECDSA_P256_SHA256, Key: sampleRef("P256_0")},
				{Keyid: "partner", Algorithm: policyv1.HTTPSignatureAlgorithm_HTTP_SIGNATURE_ALGORITHM_HMAC_SHA256, Key: sampleRef("HMAC_B64")},
			},
		}}},
		forge: func() *authz.Request {
			body := forgedOpaqueBody()
			s256, s512 := sha256.Sum256(body), sha512.Sum512(body)
			digest := "sha-256=:" + base64.StdEncoding.EncodeToString(s256[:]) + ":, sha-512=:" + base64.StdEncoding.EncodeToString(s512[:]) + ":"
			var inputs, sigs []string
			for i := range maxSignatures {
				label := "s" + strconv.Itoa(i)
				inputs = append(inputs, label+`=("@method" "@authority" "@path" "content-digest");created=`+unixText(t0)+`;keyid="partner"`)
				sigs = append(sigs, label+"=:"+base64.StdEncoding.EncodeToString(fakeEd25519Signature(i))+":")
			}
			return forgedRequest(body,
				authz.HeaderValue{Name: ContentDigestHeader, Value: digest},
				authz.HeaderValue{Name: SignatureInputHeader, Value: strings.Join(inputs, ", ")},
				authz.HeaderValue{Name: SignatureHeader, Value: strings.Join(sigs, ", ")})
		},
	}},
}

// providerSample configures the catalog's provider name (and version)
// with the HMAC sample secrets.
func providerSample(name, version string) *policyv1.Verify {
	return &policyv1.Verify{Scheme: &policyv1.Verify_Provider{Provider: &policyv1.ProviderVerify{Name: name, Version: version, Secrets: sampleRefs("MAC")}}}
}

// sampleEnv resolves the samples' secret references: MAC_i are HMAC
// secrets, BASIC_i Basic authentication credentials, WHSEC_i and WHPK_i Standard Webhooks secrets and public keys,
// ED_HEX_i Ed25519 public keys in hex, P256_i P-256 public keys in base64
// DER, HMAC_B64 an RFC 9421 HMAC key.
var sampleEnv = func() mapEnv {
	env := mapEnv{"HMAC_B64": base64.StdEncoding.EncodeToString([]byte("rfc 9421 hmac key"))}
	for i := range rotation {
		n := strconv.Itoa(i)
		env["MAC_"+n] = "secret-" + n
		env["BASIC_"+n] = "hooks:password-" + n
		env["WHSEC_"+n] = "whsec_" + base64.StdEncoding.EncodeToString([]byte("standard webhooks secret "+n))
		ed := ed25519.NewKeyFromSeed(sha256Sum([]byte("sample key " + n))).Public().(ed25519.PublicKey)
		env["ED_HEX_"+n] = hex.EncodeToString(ed)
		env["WHPK_"+n] = "whpk_" + base64.StdEncoding.EncodeToString(ed)
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		spki, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
		if err != nil {
			panic(err)
		}
		env["P256_"+n] = base64.StdEncoding.EncodeToString(spki)
	}
	return env
}()

// sampleRef references the secret name in sampleEnv.
func sampleRef(name string) *policyv1.SecretRef {
	return &policyv1.SecretRef{Source: &policyv1.SecretRef_Env{Env: name}}
}

// sampleRefs references the rotation secrets prefix_0, prefix_1, ...
func sampleRefs(prefix string) []*policyv1.SecretRef {
	refs := make([]*policyv1.SecretRef, rotation)
	for i := range refs {
		refs[i] = sampleRef(prefix + "_" + strconv.Itoa(i))
	}
	return refs
}

// buildSample builds the sample's verifier.
func buildSample(tb testing.TB, s forgedSample) authz.Verifier {
	tb.Helper()
	v, _, err := New(s.config, sampleEnv)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// forgedRequest is a POST of body to https://hooks.example.com/hook.
func forgedRequest(body []byte, h ...authz.HeaderValue) *authz.Request {
	return request("POST", "", body, h...)
}

// forgedStandardWebhooks is a Standard Webhooks delivery of the opaque
// body with the signatures sigs.
func forgedStandardWebhooks(sigs []string) *authz.Request {
	return forgedRequest(forgedOpaqueBody(),
		authz.HeaderValue{Name: StandardWebhooksIDHeader, Value: "msg_forged"},
		authz.HeaderValue{Name: StandardWebhooksTimestampHeader, Value: unixText(t0)},
		authz.HeaderValue{Name: StandardWebhooksSignatureHeader, Value: strings.Join(sigs, " ")})
}

// forgedOpaqueBody is forgedBodySize bytes of text.
func forgedOpaqueBody() []byte {
	b := make([]byte, forgedBodySize)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// forgedJSONBody is a JSON object of forgedBodySize bytes holding member
// and then an array of as many small numbers as fit, the most tokens a
// parser must get through.
func forgedJSONBody(member string) []byte {
	b := []byte("{" + member + `,"data":[0`)
	for len(b) < forgedBodySize-4 {
		b = append(b, ",0"...)
	}
	return append(b, "]}"...)
}

// forgedFormBody is a urlencoded form of forgedBodySize bytes at most:
// head, then parameters whose values are all escapes, as many as Twilio
// reads.
func forgedFormBody(head string) []byte {
	n := maxFormParams - 4
	per := (forgedBodySize - len(head)) / n
	b := []byte(head)
	for i := range n {
		if len(b) > 0 {
			b = append(b, '&')
		}
		name := "p" + strconv.Itoa(i) + "="
		b = append(b, name...)
		b = append(b, strings.Repeat("%41", (per-len(name)-1)/3)...)
	}
	return b
}

// forgedPairsBody is a urlencoded form of about forgedBodySize bytes:
// head, then escaped parameters, as many as net/url parses (10000).
func forgedPairsBody(head string) []byte {
	const n = 10000 - 4
	b := []byte(head)
	value := strings.Repeat("%41", (forgedBodySize-len(head))/n/3-1)
	for range n {
		b = append(b, "&a="...)
		b = append(b, value...)
	}
	return b
}

// fakeHex is size bytes, different for each i, in hex: a well-formed
// signature that no key made.
func fakeHex(size, i int) string { return hex.EncodeToString(fakeBytes(size, i)) }

// fakeBase64 is fakeHex in base64.
func fakeBase64(size, i int) string { return base64.StdEncoding.EncodeToString(fakeBytes(size, i)) }

func fakeBytes(size, i int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*31 + j*7 + 1)
	}
	return b
}

// fakeEd25519Signature is a signature Ed25519 reads in full, a real point
// R and a canonical S, different for each i: a genuine signature of
// another message by a key no sample configures.
func fakeEd25519Signature(i int) []byte {
	seed := sha256Sum([]byte("forger " + strconv.Itoa(i)))
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte("something else"))
	return sig
}

// fakeECDSASignatureDER is a DER P-256 signature with r and s in range,
// made by no configured key.
func fakeECDSASignatureDER() []byte {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256([]byte("something else"))
	der, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
	if err != nil {
		panic(err)
	}
	return der
}

// unixText is t in Unix seconds.
func unixText(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// check runs r through v as the authorizer does: the handshake first, for
// a scheme that has one, then Verify. A forged request answered as a
// handshake is an error.
func check(v authz.Verifier, r *authz.Request, now time.Time) error {
	if hs, ok := v.(authz.Handshaker); ok {
		resp, err := hs.Handshake(r, now)
		if err != nil {
			return err
		}
		if resp != nil {
			return errors.New("answered as a handshake")
		}
	}
	_, err := v.Verify(r, now)
	return err
}

// githubValid is a valid GitHub delivery of the forged body size under the
// last of the GitHub sample's secrets, and the verifier it is for.
func githubValid(tb testing.TB) (authz.Verifier, *authz.Request) {
	tb.Helper()
	sample := forgedSamples["github"][0]
	v := buildSample(tb, sample)
	body := forgedOpaqueBody()
	h, err := Sign("github", authz.Secret(sampleEnv["MAC_"+strconv.Itoa(rotation-1)]), Message{Body: body, Time: t0})
	if err != nil {
		tb.Fatal(err)
	}
	r := forgedRequest(body, h...)
	if err := check(v, r, t0); err != nil {
		tb.Fatal(err)
	}
	return v, r
}

// TestForgedSamples: every registered scheme has a sample, each builds,
// and each forged request is refused as an invalid signature, not earlier
// as missing or stale.
func TestForgedSamples(t *testing.T) {
	for _, s := range All() {
		samples := forgedSamples[s.Name]
		if len(samples) == 0 {
			t.Errorf("%s: no sample in forgedSamples; add the configuration and forged request that cost its verifier most", s.Name)
		}
		for _, sample := range samples {
			t.Run(sample.name(s.Name), func(t *testing.T) {
				v, scheme, err := New(sample.config, sampleEnv)
				if err != nil || scheme.Name != s.Name {
					t.Fatalf("sample builds scheme %q: %v", scheme.Name, err)
				}
				checkReason(t, check(v, sample.forge(), t0), authz.SignatureInvalid)
			})
		}
	}
	for name := range forgedSamples {
		if _, ok := Lookup(name); !ok {
			t.Errorf("forgedSamples has %s, which is not registered", name)
		}
	}
}

// BenchmarkForged measures, for every registered scheme, its most
// expensive forged request, and a valid GitHub delivery of the same body
// under the same three secrets (valid/github; valid/github-one-secret under
// one). Each forged case also runs the valid GitHub delivery between its
// own runs, untimed and for about as long, and reports its cost (ref-ns/op)
// and the ratio (x-github), so that the comparison holds on a machine
// whose load changes during the run.
func BenchmarkForged(b *testing.B) {
	gv, gr := githubValid(b)
	b.Run("valid/github", func(b *testing.B) {
		for b.Loop() {
			check(gv, gr, t0)
		}
	})
	one := NewGitHub([]authz.Secret{authz.Secret(sampleEnv["MAC_"+strconv.Itoa(rotation-1)])})
	if err := check(one, gr, t0); err != nil {
		b.Fatal(err)
	}
	b.Run("valid/github-one-secret", func(b *testing.B) {
		for b.Loop() {
			check(one, gr, t0)
		}
	})
	for _, s := range All() {
		for _, sample := range forgedSamples[s.Name] {
			v := buildSample(b, sample)
			r := sample.forge()
			if check(v, r, t0) == nil {
				b.Fatalf("%s: forged request accepted", sample.name(s.Name))
			}
			b.Run("forged/"+sample.name(s.Name), func(b *testing.B) {
				benchAgainst(b, func() { check(v, r, t0) }, func() { check(gv, gr, t0) }, "x-github")
			})
		}
	}
}

// benchAgainst times f, running ref between its runs, untimed and for
// about as long, and reports f's cost over ref's as unit.
func benchAgainst(b *testing.B, f, ref func(), unit string) {
	var refTime time.Duration
	n := 0
	for b.Loop() {
		f()
		if refTime < b.Elapsed() {
			b.StopTimer()
			start := time.Now()
			ref()
			refTime += time.Since(start)
			n++
			b.StartTimer()
		}
	}
	perRef := float64(refTime.Nanoseconds()) / float64(n)
	b.ReportMetric(perRef, "ref-ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/perRef, unit)
}
