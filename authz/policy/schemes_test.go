package policy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

// providerKeys are the test keys behind the example provider policies:
// what each signs with, and what the policy's environment variable holds.
type providerKeys struct {
	env  map[string]string
	sign map[string]authz.Secret // endpoint name → signing key
}

func newProviderKeys(t *testing.T) providerKeys {
	t.Helper()
	seed := sha256.Sum256([]byte("discord test key"))
	ed := ed25519.NewKeyFromSeed(seed[:])
	edPKIX, _ := x509.MarshalPKIXPublicKey(ed.Public())
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPKIX, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sw := "whsec_" + base64.StdEncoding.EncodeToString([]byte("standard webhooks test secret"))
	internal := base64.StdEncoding.EncodeToString([]byte("internal http signature key"))
	k := providerKeys{
		env: map[string]string{
			"STRIPE_WEBHOOK_SECRET":          "whsec_stripe_test",
			"SLACK_SIGNING_SECRET":           "slack-test",
			"STANDARD_WEBHOOKS_SECRET":       sw,
			"SHOPIFY_CLIENT_SECRET":          "shopify-test",
			"TWILIO_AUTH_TOKEN":              "twilio-test",
			"DISCORD_PUBLIC_KEY":             hex.EncodeToString(ed.Public().(ed25519.PublicKey)),
			"SENDGRID_VERIFICATION_KEY":      base64.StdEncoding.EncodeToString(ecPKIX),
			"SQUARE_SIGNATURE_KEY":           "square-test",
			"ZOOM_SECRET_TOKEN":              "zoom-test",
			"LINEAR_WEBHOOK_SECRET":          "linear-test",
			"META_APP_SECRET":                "meta-test",
			"META_VERIFY_TOKEN":              "meta-verify-test",
			"PAGERDUTY_WEBHOOK_SECRET":       "pagerduty-test",
			"PADDLE_WEBHOOK_SECRET":          "pdl_ntfset_test",
			"TWITCH_EVENTSUB_SECRET":         "twitch-test",
			"MAILGUN_WEBHOOK_SIGNING_KEY":    "mailgun-test",
			"ACME_WEBHOOK_SECRET":            "acme-test",
			"HTTPSIG_PARTNER_PUBLIC_KEY":     string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: edPKIX})),
			"HTTPSIG_INTERNAL_KEY":           internal,
			"CALENDLY_WEBHOOK_SIGNING_KEY":   "calendly-test",
			"ZENDESK_WEBHOOK_SIGNING_SECRET": "zendesk-test",
			"TWITTER_CONSUMER_SECRET":        "twitter-test",
			"POSTMARK_BASIC_AUTH":            "hooks:test",
		},
		sign: map[string]authz.Secret{
			"discord":                 authz.Secret(hex.EncodeToString(seed[:])),
			"sendgrid":                pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecPKCS8}),
			"http-message-signatures": authz.Secret(internal),
		},
	}
	for name, env := range map[string]string{
		"stripe": "STRIPE_WEBHOOK_SECRET", "slack": "SLACK_SIGNING_SECRET", "standard-webhooks": "STANDARD_WEBHOOKS_SECRET",
		"shopify": "SHOPIFY_CLIENT_SECRET", "twilio": "TWILIO_AUTH_TOKEN", "square": "SQUARE_SIGNATURE_KEY",
		"zoom": "ZOOM_SECRET_TOKEN", "linear": "LINEAR_WEBHOOK_SECRET", "meta": "META_APP_SECRET",
		"pagerduty": "PAGERDUTY_WEBHOOK_SECRET", "paddle": "PADDLE_WEBHOOK_SECRET", "twitch": "TWITCH_EVENTSUB_SECRET",
		"mailgun": "MAILGUN_WEBHOOK_SIGNING_KEY", "calendly": "CALENDLY_WEBHOOK_SIGNING_KEY",
		"zendesk": "ZENDESK_WEBHOOK_SIGNING_SECRET", "twitter": "TWITTER_CONSUMER_SECRET",
		"basic-auth": "POSTMARK_BASIC_AUTH",
	} {
		k.sign[name] = authz.Secret(k.env[env])
	}
	return k
}

// schemeOf is the scheme of an endpoint's verify block: "provider" for a
// provider of the catalog, whose verifier is named after the provider.
func schemeOf(e *authz.Endpoint) string {
	if _, ok := e.Verifier.(*verify.ProviderVerifier); ok {
		return "provider"
	}
	return e.Verifier.Scheme()
}

// replayable reports whether an endpoint's scheme yields replay keys.
func replayable(e *authz.Endpoint) bool {
	s, _ := verify.Lookup(schemeOf(e))
	return s.Replayable
}

// providerSecrets serves providerKeys to the loader; files are not used.
type providerSecrets map[string]string

func (p providerSecrets) LookupEnv(name string) (string, bool) { v, ok := p[name]; return v, ok }
func (providerSecrets) ReadFile(string) ([]byte, error)        { return nil, fs.ErrNotExist }

const providerDir = "../../policies/providers"

// exampleSecrets serves providerKeys to the loader, and otherSecret for
// any other variable, so that the example policy of a new HMAC scheme loads
// without an entry in providerKeys.
type exampleSecrets map[string]string

// otherSecret is the value of the variables providerKeys does not set.
const otherSecret = "example-test-secret"

func (p exampleSecrets) LookupEnv(name string) (string, bool) {
	if v, ok := p[name]; ok {
		return v, true
	}
	return otherSecret, true
}

func (exampleSecrets) ReadFile(string) ([]byte, error) { return nil, fs.ErrNotExist }

// TestProviderPoliciesCompile: every example provider policy compiles
// without a warning, each endpoint with replay protection and the scheme
// its file is named after (standard-webhooks.yaml: standard_webhooks).
func TestProviderPoliciesCompile(t *testing.T) {
	keys := newProviderKeys(t)
	res, err := Load(providerDir, Options{Secrets: exampleSecrets(keys.env)})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		// A scheme that signs nothing is warned about, by design.
		if e := res.Policy.Endpoint(w.Endpoint); e != nil && !replayable(e) && strings.Contains(w.Message, "no replay protection") {
			continue
		}
		t.Errorf("warning: %v", w)
	}
	seen := 0
	for _, f := range res.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Endpoints []struct{ Name string } }
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		scheme := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(f), ".yaml"), "-", "_")
		for _, ep := range doc.Endpoints {
			seen++
			e := res.Policy.Endpoint(ep.Name)
			switch {
			case e == nil:
				t.Errorf("%s: endpoint %s missing", f, ep.Name)
			case schemeOf(e) != scheme:
				t.Errorf("%s: endpoint %s: scheme %s, want %s", f, ep.Name, schemeOf(e), scheme)
			case e.ReplayTTL <= 0 && replayable(e):
				t.Errorf("%s: endpoint %s: no replay protection", f, ep.Name)
			}
		}
	}
	if got := len(res.Policy.Endpoints()); got != seen || seen == 0 {
		t.Errorf("%d endpoints compiled, %d in the files", got, seen)
	}
}

// TestProviderPoliciesVerify signs a delivery for each example endpoint as
// its provider would and checks the compiled verifier accepts it: the
// policy fields reach the verifier as meant.
func TestProviderPoliciesVerify(t *testing.T) {
	keys := newProviderKeys(t)
	res, err := Load(providerDir, Options{Secrets: exampleSecrets(keys.env)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, e := range res.Policy.Endpoints() {
		name, scheme := e.Name, e.Verifier.Scheme()
		t.Run(name, func(t *testing.T) {
			key, ok := keys.sign[name]
			if !ok {
				key = authz.Secret(otherSecret)
			}
			body := []byte(fmt.Sprintf(`{"id":"evt_1","webhookTimestamp":%d}`, now.UnixMilli()))
			m := verify.Message{Body: body, Time: now, ID: "d1", URL: "https://hooks.example.com/webhooks/" + name, KeyID: "internal"}
			switch name {
			case "square":
				m.URL = "https://hooks.example.com/webhooks/square"
			case "twilio":
				sum := sha256.Sum256(body)
				m.URL += "?bodySHA256=" + hex.EncodeToString(sum[:])
			}
			var h []authz.HeaderValue
			var err error
			switch v := e.Verifier.(type) {
			case *verify.ProviderVerifier:
				var d verify.Delivery
				d, err = verify.SignProvider(v.Scheme(), "", key, m)
				h = d.Headers
			case *verify.HMAC:
				// The generic scheme's format is the policy's: the
				// compiled verifier signs, with the policy's secret.
				h, err = v.Sign(m)
			default:
				if scheme == "mailgun" {
					body, err = verify.SignMailgunBody(key, m)
					break
				}
				h, err = verify.Sign(scheme, key, m)
			}
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(m.URL)
			r := &authz.Request{Method: "POST", Scheme: "https", Host: u.Host, Path: u.Path, Query: u.RawQuery, Body: body, Header: authz.Header{"content-type": "application/json"}}
			for _, hv := range h {
				r.Header[strings.ToLower(hv.Name)] = hv.Value
			}
			v, err := e.Verifier.Verify(r, now)
			if err != nil {
				t.Fatalf("%s refused a signed delivery: %v", scheme, err)
			}
			if v.ReplayKey == nil && replayable(e) {
				t.Fatal("no replay key")
			}
		})
	}
}

// TestProviderPolicyEnvDocumented: every environment variable the example
// policies read is documented, since whoever loads them must set it.
func TestProviderPolicyEnvDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/providers.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(providerDir, "*.yaml"))
	envRef := regexp.MustCompile(`(?m)^\s*(?:-\s*)?env:\s*([A-Z0-9_]+)\s*$`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envRef.FindAllStringSubmatch(string(b), -1) {
			seen++
			if !strings.Contains(string(doc), m[1]) {
				t.Errorf("%s reads %s, which docs/providers.md does not mention", filepath.Base(f), m[1])
			}
		}
	}
	if seen == 0 {
		t.Fatal("no env references found")
	}
}

// TestEveryRegisteredScheme: every scheme registered with package verify
// has an example policy in policies/ or policies/providers/ and a section
// in docs/providers.md, and its example compiles to a verifier with the
// traits the registration declares, replay protection where it has a
// replay key.
func TestEveryRegisteredScheme(t *testing.T) {
	keys := newProviderKeys(t)
	env := providerSecrets{"GITHUB_WEBHOOK_SECRET": "github-test", "GITLAB_WEBHOOK_TOKEN": "gitlab-test", "PARTNER_WEBHOOK_TOKEN": "partner-test"}
	for k, v := range keys.env {
		env[k] = v
	}
	examples := map[string][]*authz.Endpoint{}
	for _, dir := range []string{"../../policies", providerDir} {
		res, err := Load(dir, Options{Secrets: env})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Policy.Endpoints() {
			examples[schemeOf(e)] = append(examples[schemeOf(e)], e)
		}
	}
	doc, err := os.ReadFile("../../docs/providers.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range verify.All() {
		if !regexp.MustCompile("(?m)^## .*`" + regexp.QuoteMeta(s.Name) + "`").Match(doc) {
			t.Errorf("%s: no section of docs/providers.md is titled with it", s.Name)
		}
		if len(examples[s.Name]) == 0 {
			t.Errorf("%s: no example policy uses it", s.Name)
		}
		for _, e := range examples[s.Name] {
			if _, ok := e.Verifier.(verify.Timestamped); ok != s.Timestamped {
				t.Errorf("endpoint %s: implements verify.Timestamped: %v, registered Timestamped: %v", e.Name, ok, s.Timestamped)
			}
			if _, ok := e.Verifier.(authz.Handshaker); ok != s.Handshakes {
				t.Errorf("endpoint %s: implements authz.Handshaker: %v, registered Handshakes: %v", e.Name, ok, s.Handshakes)
			}
			if protected := e.ReplayTTL > 0; protected != s.Replayable {
				t.Errorf("endpoint %s: replay protection %v, registered Replayable: %v", e.Name, protected, s.Replayable)
			}
		}
	}
}

func TestSchemeFieldErrors(t *testing.T) {
	keys := newProviderKeys(t)
	cases := []struct {
		name, verify, field string
	}{
		{"bad tolerance", "stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}], tolerance: soon}", "verify.stripe.tolerance"},
		{"negative tolerance", "slack: {secrets: [{env: SLACK_SIGNING_SECRET}], tolerance: -1m}", "verify.slack.tolerance"},
		{"tolerance over a day", "twitch: {secrets: [{env: TWITCH_EVENTSUB_SECRET}], tolerance: 25h}", "verify.twitch.tolerance"},
		{"no secrets", "shopify: {}", "verify.shopify.secrets"},
		{"unset env", "paddle: {secrets: [{env: NOT_SET}]}", "verify.paddle.secrets[0].env"},
		{"standard webhooks without keys", "standard_webhooks: {}", "verify.standard_webhooks"},
		{"standard webhooks bad secret", "standard_webhooks: {secrets: [{env: SLACK_SIGNING_SECRET}]}", "verify.standard_webhooks.secrets[0]"},
		{"discord bad key", "discord: {public_keys: [{env: SLACK_SIGNING_SECRET}]}", "verify.discord.public_keys[0]"},
		{"sendgrid bad key", "sendgrid: {public_keys: [{env: DISCORD_PUBLIC_KEY}]}", "verify.sendgrid.public_keys[0]"},
		{"square without URL", "square: {secrets: [{env: SQUARE_SIGNATURE_KEY}]}", "verify.square.notification_url"},
		{"square relative URL", "square: {secrets: [{env: SQUARE_SIGNATURE_KEY}], notification_url: /webhooks/square}", "verify.square.notification_url"},
		{"hmac without header", "hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}]}", "verify.hmac.header"},
		{"hmac bad header", "hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: 'x sig'}", "verify.hmac.header"},
		{"hmac without body", "hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: x-sig, signed_content: '{method}'}", "verify.hmac.signed_content"},
		{"hmac algorithm", "hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: x-sig, algorithm: MD5}", "verify.hmac.algorithm"},
		{"hmac id placeholder", "hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: x-sig, signed_content: '{id}{body}'}", "verify.hmac.id_header"},
		{"httpsig without keys", "http_message_signatures: {}", "verify.http_message_signatures.keys"},
		{"httpsig bad algorithm", "http_message_signatures: {keys: [{keyid: k, algorithm: rsa-pss-sha512, key: {env: HTTPSIG_INTERNAL_KEY}}]}", "verify.http_message_signatures.keys[0].algorithm"},
		{"httpsig bad component", "http_message_signatures: {keys: [{keyid: k, algorithm: hmac-sha256, key: {env: HTTPSIG_INTERNAL_KEY}}], required_components: ['@status']}", "verify.http_message_signatures.required_components[0]"},
		{"unknown scheme field", "stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}], window: 5m}", "verify.stripe.window"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			doc := "endpoints:\n  - name: ep\n    match: {path: /hook}\n    verify:\n      " + c.verify + "\n"
			if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir, Options{Secrets: providerSecrets(keys.env)})
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v", err)
			}
			for _, d := range errs {
				if d.Field == c.field {
					if strings.Contains(d.Message, keys.env["SLACK_SIGNING_SECRET"]) || strings.Contains(d.Message, keys.env["DISCORD_PUBLIC_KEY"]) {
						t.Fatalf("diagnostic quotes a secret: %v", d)
					}
					return
				}
			}
			t.Fatalf("no error on %s: %v", c.field, err)
		})
	}
}

// TestSchemeDiagnosticCodes: a diagnostic says whether a secret's value, a
// secret reference or the policy is at fault, which `validate
// --skip-secrets` relies on.
func TestSchemeDiagnosticCodes(t *testing.T) {
	keys := newProviderKeys(t)
	cases := []struct {
		name, verify, field string
		want                Code
	}{
		{"public key does not parse", "discord: {public_keys: [{env: SLACK_SIGNING_SECRET}]}", "verify.discord.public_keys[0]", CodeSecretValue},
		{"secret not whsec_", "standard_webhooks: {secrets: [{env: SLACK_SIGNING_SECRET}]}", "verify.standard_webhooks.secrets[0]", CodeSecretValue},
		{"RFC 9421 key does not parse", "http_message_signatures: {keys: [{keyid: k, algorithm: ed25519, key: {env: SLACK_SIGNING_SECRET}}]}", "verify.http_message_signatures.keys[0].key", CodeSecretValue},
		{"unset env", "paddle: {secrets: [{env: NOT_SET}]}", "verify.paddle.secrets[0].env", CodeSecretUnresolved},
		{"unset env of a single key", "http_message_signatures: {keys: [{keyid: k, algorithm: ed25519, key: {env: NOT_SET}}]}", "verify.http_message_signatures.keys[0].key.env", CodeSecretUnresolved},
		{"reference without source", "github: {secrets: [{}]}", "verify.github.secrets[0]", CodePolicy},
		{"no secrets", "shopify: {}", "verify.shopify.secrets", CodePolicy},
		{"bad tolerance", "stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}], tolerance: soon}", "verify.stripe.tolerance", CodePolicy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			doc := "endpoints:\n  - name: ep\n    match: {path: /hook}\n    verify: {" + c.verify + "}\n"
			if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir, Options{Secrets: providerSecrets(keys.env)})
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v", err)
			}
			for _, d := range errs {
				if d.Field == c.field {
					if d.Code != c.want {
						t.Fatalf("%v: code %q, want %q", d, d.Code, c.want)
					}
					if d.Line != 4 {
						t.Errorf("%v: line %d, want 4", d, d.Line)
					}
					return
				}
			}
			t.Fatalf("no error on %s: %v", c.field, err)
		})
	}
}

// TestPlaceholderSecretsOnlyFailSecretValues: with placeholder secrets,
// as `validate --skip-secrets` loads, the example policies fail only on
// the values of their keys.
func TestPlaceholderSecretsOnlyFailSecretValues(t *testing.T) {
	_, err := Load(providerDir, Options{Secrets: Placeholders{}})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("err = %v; the asymmetric schemes cannot parse a placeholder key", err)
	}
	for _, d := range errs {
		if d.Code != CodeSecretValue {
			t.Errorf("%v: code %q", d, d.Code)
		}
	}
}

// TestReplayTTLShorterThanTolerance: an endpoint whose replay TTL is
// shorter than its scheme's timestamp tolerance compiles with a warning on
// replay.ttl, since a delivery replayed after the TTL would pass.
func TestReplayTTLShorterThanTolerance(t *testing.T) {
	keys := newProviderKeys(t)
	cases := []struct {
		name, verify, replay string
		want                 []string // parts of the replay.ttl warning; nil: none
	}{
		{"ttl under tolerance", "stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}], tolerance: 10m}", "ttl: 5m",
			[]string{"5m0s is shorter than twice the 10m0s timestamp tolerance of stripe", "at least 20m0s"}},
		{"ttl under default tolerance", "twitch: {secrets: [{env: TWITCH_EVENTSUB_SECRET}]}", "ttl: 9m",
			[]string{"9m0s", "10m0s timestamp tolerance of twitch"}},
		// A post-dated timestamp stays acceptable for twice the tolerance.
		{"ttl equal to tolerance", "stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}], tolerance: 10m}", "ttl: 10m",
			[]string{"at least 20m0s"}},
		{"ttl twice the tolerance", "stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}], tolerance: 10m}", "ttl: 20m", nil},
		{"default ttl follows the tolerance", "hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: x-sig, signed_content: '{timestamp}.{body}', timestamp_header: x-ts, tolerance: 30m}", "", nil},
		{"ttl over tolerance", "paddle: {secrets: [{env: PADDLE_WEBHOOK_SECRET}]}", "ttl: 1m", nil},
		// Without a signed timestamp a delivery never goes stale: anything
		// short of the longest TTL lets a later copy through.
		{"scheme without timestamp", "shopify: {secrets: [{env: SHOPIFY_CLIENT_SECRET}]}", "ttl: 1s",
			[]string{"shopify signs no timestamp", "after the ttl of 1s is let through", "24h0m0s"}},
		{"hmac without timestamp header", "hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: x-sig}", "ttl: 23h",
			[]string{"hmac signs no timestamp", "23h0m0s"}},
		{"scheme without timestamp at the longest ttl", "pagerduty: {secrets: [{env: PAGERDUTY_WEBHOOK_SECRET}]}", "ttl: 24h", nil},
		{"scheme without timestamp by default", "meta: {secrets: [{env: META_APP_SECRET}]}", "", nil},
		{"replay disabled", "stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}], tolerance: 10m}", "disabled: true", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := "endpoints:\n  - name: ep\n    match: {path: /hook}\n    verify: {" + c.verify + "}\n"
			if c.replay != "" {
				doc += "    replay: {" + c.replay + "}\n"
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			res, err := Load(dir, Options{Secrets: providerSecrets(keys.env)})
			if err != nil {
				t.Fatal(err)
			}
			var got []*Diagnostic
			for _, w := range res.Warnings {
				if w.Field == "replay.ttl" {
					got = append(got, w)
				}
			}
			if c.want == nil {
				if len(got) != 0 {
					t.Fatalf("unexpected warning: %v", got[0])
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d replay.ttl warnings, want 1: %v", len(got), res.Warnings)
			}
			for _, part := range c.want {
				if !strings.Contains(got[0].Message, part) {
					t.Errorf("warning %q lacks %q", got[0].Message, part)
				}
			}
			if got[0].Endpoint != "ep" || got[0].Line == 0 {
				t.Errorf("warning not placed: %v", got[0])
			}
			if e := res.Policy.Endpoint("ep"); e == nil || e.ReplayTTL == 0 {
				t.Error("a warning must not refuse the endpoint or its replay protection")
			}
		})
	}
}

// TestDefaultReplayTTLCoversTheTimestampWindow checks that without a
// replay.ttl the delivery is remembered for as long as its timestamp can be
// accepted: twice the tolerance, and never less than the default.
func TestDefaultReplayTTLCoversTheTimestampWindow(t *testing.T) {
	keys := newProviderKeys(t)
	for verifyBlock, want := range map[string]time.Duration{
		"stripe: {secrets: [{env: STRIPE_WEBHOOK_SECRET}]}":  DefaultReplayTTL, // 2 × 5m
		"twitch: {secrets: [{env: TWITCH_EVENTSUB_SECRET}]}": 20 * time.Minute, // 2 × 10m
		"hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: x-sig, signed_content: '{timestamp}.{body}', timestamp_header: x-ts, tolerance: 30m}": time.Hour,
		"hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: x-sig, signed_content: '{timestamp}.{body}', timestamp_header: x-ts, tolerance: 20h}": authz.MaxReplayTTL,
		// Schemes that sign no timestamp: the longest TTL.
		"shopify: {secrets: [{env: SHOPIFY_CLIENT_SECRET}]}":                                        authz.MaxReplayTTL,
		"hmac: {secrets: [{env: ACME_WEBHOOK_SECRET}], header: x-sig}":                              authz.MaxReplayTTL,
		"twilio: {secrets: [{env: TWILIO_AUTH_TOKEN}]}":                                             authz.MaxReplayTTL,
		"pagerduty: {secrets: [{env: PAGERDUTY_WEBHOOK_SECRET}]}":                                   authz.MaxReplayTTL,
		"square: {secrets: [{env: SQUARE_SIGNATURE_KEY}], notification_url: 'https://h.example/x'}": authz.MaxReplayTTL,
	} {
		dir := t.TempDir()
		doc := "endpoints:\n  - name: ep\n    match: {path: /hook}\n    verify: {" + verifyBlock + "}\n"
		if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := Load(dir, Options{Secrets: providerSecrets(keys.env)})
		if err != nil {
			t.Fatalf("%s: %v", verifyBlock, err)
		}
		if got := res.Policy.Endpoint("ep").ReplayTTL; got != want {
			t.Errorf("%s: replay TTL %v, want %v", verifyBlock, got, want)
		}
	}
}

// An RFC 9421 signature that need not cover the body loads, with a warning.
func TestHTTPSigWithoutContentDigestWarns(t *testing.T) {
	keys := newProviderKeys(t)
	dir := t.TempDir()
	doc := "endpoints:\n  - name: ep\n    match: {path: /hook}\n    verify: {http_message_signatures: {keys: [{keyid: k, algorithm: hmac-sha256, key: {env: HTTPSIG_INTERNAL_KEY}}], required_components: ['@method']}}\n"
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Load(dir, Options{Secrets: providerSecrets(keys.env)})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		if w.Field == "verify.http_message_signatures.required_components" && strings.Contains(w.Message, "content-digest") {
			return
		}
	}
	t.Fatalf("no warning about content-digest in %v", res.Warnings)
}
