package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// ngrokProviders are the providers of ngrok's verify-webhook action, by
// its ids, which the catalog names the same.
var ngrokProviders = strings.Fields(`aftership airship alchemy sns autodesk bitbucket bolt box brex buildkite
calendly castle chargify circleci clearbit clerk coinbase contentful docusign dropbox facebook_graph_api
facebook_messenger frameio github gitlab go1 heroku hostedhooks hubspot graphcms instagram intercom jira
launch_darkly linear mailchimp mailgun microsoft_teams modern_treasury mongodb mux orb orbit pagerduty
pinwheel plivo pusher sendgrid sentry shopify signal_sciences slack sonatype square stripe svix terraform
tiktok trendmicro_conformity twilio twitter typeform vmware webex whatsapp worldline xero zendesk zoom`)

func TestCatalogCoverage(t *testing.T) {
	supported := 0
	for _, p := range Providers() {
		if p.Supported() {
			supported++
		}
	}
	if supported < 100 {
		t.Errorf("%d supported providers, want at least 100", supported)
	}
	for _, name := range ngrokProviders {
		if p, ok := LookupProvider(name); !ok || p.Name != name {
			t.Errorf("%s: not in the catalog under ngrok's id", name)
		}
	}
	if p, ok := LookupProvider("AWS-SNS"); !ok || p.Name != "sns" {
		t.Errorf("alias aws_sns, spelt AWS-SNS: %+v, %v", p, ok)
	}
}

// TestCatalogEntries: every supported entry builds with a secret, with the
// traits the catalog shows: its default tolerance is the one listed (none
// when it signs no timestamp), its replay key is described, and an
// unsupported one says why and fails to build, naming the field.
func TestCatalogEntries(t *testing.T) {
	keys := map[string]string{}
	for _, c := range providerVectors() {
		if c.version == "" {
			keys[c.provider] = c.secret
		}
	}
	for _, p := range Providers() {
		t.Run(p.Name, func(t *testing.T) {
			if !strings.HasPrefix(p.Docs, "https://") || p.DisplayName == "" {
				t.Errorf("docs %q, display %q", p.Docs, p.DisplayName)
			}
			cfg := &policyv1.ProviderVerify{Name: p.Name, Secrets: []*policyv1.SecretRef{{Source: &policyv1.SecretRef_Env{Env: "K"}}}}
			if !p.Supported() {
				_, err := buildProvider(cfg, mapEnv{"K": "k"})
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "name" || !strings.Contains(err.Error(), "not supported") {
					t.Fatalf("unsupported provider built: %v", err)
				}
				return
			}
			if p.Mechanism == "discord" || p.Mechanism == "sendgrid" {
				cfg.PublicKeys, cfg.Secrets = cfg.Secrets, nil
			}
			if p.Mechanism == "square" {
				cfg.NotificationUrl = "https://hooks.example.com/square"
			}
			v, err := buildProvider(cfg, mapEnv{"K": keys[p.Name]})
			if err != nil {
				t.Fatal(err)
			}
			var tol time.Duration
			if ts, ok := v.(Timestamped); ok {
				tol = ts.Tolerance()
			}
			want := time.Duration(0)
			if p.Tolerance != "" {
				if want, err = time.ParseDuration(p.Tolerance); err != nil {
					t.Fatal(err)
				}
			}
			if tol != want {
				t.Errorf("tolerance %v, catalog says %q", tol, p.Tolerance)
			}
			if p.ReplayKey == "" || p.Checks == "" || p.Vector == "" {
				t.Errorf("replay key %q, checks %q, vector %q", p.ReplayKey, p.Checks, p.Vector)
			}
			for _, ver := range p.Versions {
				cfg.Version = ver
				if _, err := buildProvider(cfg, mapEnv{"K": keys[p.Name]}); err != nil {
					t.Errorf("version %s: %v", ver, err)
				}
			}
		})
	}
}

func TestProviderConfigErrors(t *testing.T) {
	ref := []*policyv1.SecretRef{{Source: &policyv1.SecretRef_Env{Env: "K"}}}
	env := mapEnv{"K": "k"}
	cases := []struct {
		name  string
		cfg   *policyv1.ProviderVerify
		field string
		says  string
	}{
		{"no name", &policyv1.ProviderVerify{Secrets: ref}, "name", "required"},
		{"unknown name lists the closest", &policyv1.ProviderVerify{Name: "stirpe", Secrets: ref}, "name", "closest: stripe"},
		{"unsupported", &policyv1.ProviderVerify{Name: "aws_sns", Secrets: ref}, "name", "not supported"},
		{"unknown version", &policyv1.ProviderVerify{Name: "hubspot", Version: "v9", Secrets: ref}, "version", "v1, v2"},
		{"no versions", &policyv1.ProviderVerify{Name: "calendly", Version: "v0", Secrets: ref}, "version", "no other signature version"},
		{"tolerance of an untimestamped provider", &policyv1.ProviderVerify{Name: "aftership", Tolerance: "1m", Secrets: ref}, "tolerance", "signs no timestamp"},
		{"option the provider has no use for", &policyv1.ProviderVerify{Name: "aftership", NotificationUrl: "https://x", Secrets: ref}, "notification_url", "takes no notification_url"},
		{"public keys of an HMAC provider", &policyv1.ProviderVerify{Name: "github", PublicKeys: ref, Secrets: ref}, "public_keys", "takes no public_keys"},
		{"no secrets", &policyv1.ProviderVerify{Name: "github"}, "secrets", ""},
		{"secret that is not base64", &policyv1.ProviderVerify{Name: "microsoft_teams", Secrets: ref}, "secrets[0]", "not base64"},
		{"bad tolerance", &policyv1.ProviderVerify{Name: "calendly", Tolerance: "soon", Secrets: ref}, "tolerance", "invalid duration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := env
			if c.name == "secret that is not base64" {
				e = mapEnv{"K": "not base64!"}
			}
			_, err := buildProvider(c.cfg, e)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v, want one on %s saying %q", err, c.field, c.says)
			}
		})
	}
	// Through the registry, as the policy compiler builds it: the
	// traits are the mechanism's.
	for name, replayable := range map[string]bool{"gitlab": false, "postmark": false, "github": true, "calendly": true} {
		v := &policyv1.Verify{Scheme: &policyv1.Verify_Provider{Provider: &policyv1.ProviderVerify{Name: name, Secrets: ref}}}
		vf, s, err := New(v, mapEnv{"K": "hooks:pw"})
		if err != nil || s.Name != "provider" || s.Replayable != replayable || vf.Scheme() != name {
			t.Errorf("%s: New = %v, %+v, %v; want replayable %v", name, vf, s.Name, err, replayable)
		}
	}
}

func TestClosestProviders(t *testing.T) {
	for in, want := range map[string]string{"stirpe": "stripe", "git-hub": "github", "zendsk": "zendesk", "TWILO": "twilio"} {
		if got := ClosestProviders(in, 3); len(got) == 0 || got[0] != want {
			t.Errorf("ClosestProviders(%q) = %v, want %s first", in, got, want)
		}
	}
	if got := ClosestProviders("x", 2); len(got) != 2 {
		t.Errorf("ClosestProviders(x, 2) = %v", got)
	}
}

// TestSignProviderRoundTrip: hookguard sign --provider makes, for every
// supported provider whose key is a secret, a delivery its verifier
// accepts, and that another secret's verifier refuses.
func TestSignProviderRoundTrip(t *testing.T) {
	for _, c := range providerVectors() {
		if c.publicKeys {
			continue
		}
		name := c.provider + "/" + c.version
		t.Run(name, func(t *testing.T) {
			m := Message{Body: []byte(vbody), Time: t0, ID: "d-1", URL: "https://hooks.example.com/hook?x=1"}
			switch c.provider {
			case "twilio":
				m.URL += "&bodySHA256=" + hx(sum256(vbody))
			case "mailchimp":
				m.Body, m.ContentType = []byte("mandrill_events=%5B%5D"), "application/x-www-form-urlencoded"
			case "linear":
				m.Body = []byte(c.body)
			case "square":
				m.URL = c.notificationURL
			}
			d, err := SignProvider(c.provider, c.version, authz.Secret(c.secret), m)
			if err != nil {
				t.Fatal(err)
			}
			var hv []authz.HeaderValue
			hv = append(hv, d.Headers...)
			r := request("POST", d.URL, d.Body, hv...)
			if m.ContentType != "" {
				r.Header["content-type"] = m.ContentType
			}
			v := buildVectorProvider(t, c, c.secret)
			if _, err := v.Verify(r, t0.Add(time.Second)); err != nil {
				t.Fatalf("refused its own delivery: %v", err)
			}
			if _, err := buildVectorProvider(t, c, otherSecretLike(c.secret)).Verify(r, t0.Add(time.Second)); reasonOf(err) != authz.SignatureInvalid {
				t.Fatalf("another secret: %v", err)
			}
		})
	}
	if _, err := SignProvider("sns", "", authz.Secret("k"), Message{}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("sign an unsupported provider: %v", err)
	}
}

// TestCatalogRejectsMistakes: catalog.yaml is checked when it loads.
func TestCatalogRejectsMistakes(t *testing.T) {
	saved := catalog
	defer func() { catalog = saved }()
	catalog.byName, catalog.names = map[string]*preset{}, nil
	if err := loadCatalog([]byte("- {name: a, display: A, docs: 'https://a', checked: 'https://c', verify: {github: {}}, vector: independent}")); err != nil {
		t.Fatalf("a correct entry: %v", err)
	}
	for name, doc := range map[string]string{
		"unknown field":                "- {name: a, display: A, docs: 'https://a', verify: {github: {}}, checked: 'https://c', vector: independent, colour: red}",
		"no docs link":                 "- {name: a, display: A, docs: 'http://a', verify: {github: {}}, checked: 'https://c', vector: independent}",
		"no vector":                    "- {name: a, display: A, docs: 'https://a', checked: 'https://c', verify: {github: {}}}",
		"not checked":                  "- {name: a, display: A, docs: 'https://a', verify: {github: {}}, vector: independent}",
		"checked not a link":           "- {name: a, display: A, docs: 'https://a', checked: 'from memory', verify: {github: {}}, vector: independent}",
		"unknown mechanism":            "- {name: a, display: A, docs: 'https://a', verify: {acme: {}}, checked: 'https://c', vector: independent}",
		"preset of a preset":           "- {name: a, display: A, docs: 'https://a', verify: {provider: {name: b}}, checked: 'https://c', vector: independent}",
		"duplicate name":               "- {name: a, display: A, docs: 'https://a', verify: {github: {}}, checked: 'https://c', vector: independent}\n- {name: b, aliases: [a], display: B, docs: 'https://b', verify: {github: {}}, checked: 'https://c', vector: independent}",
		"not snake case":               "- {name: A-b, display: A, docs: 'https://a', verify: {github: {}}, checked: 'https://c', vector: independent}",
		"unsupported with a mechanism": "- {name: a, display: A, docs: 'https://a', verify: {github: {}}, unsupported: why}",
		"bad handshake":                "- {name: a, display: A, docs: 'https://a', verify: {github: {}}, checked: 'https://c', vector: independent, handshakes: [{kind: ping, method: GET}]}",
	} {
		catalog.byName, catalog.names = map[string]*preset{}, nil
		if err := loadCatalog([]byte(doc)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestProviderJSONOnlyDeliveries: on a provider with X's CRC handshake,
// a delivery that is not a JSON object is refused even when signed.
func TestProviderJSONOnlyDeliveries(t *testing.T) {
	c := bodyHMAC("twitter", "x-twitter-webhooks-signature", "sha256=", sha256.New, "base64")
	v := buildVectorProvider(t, c, c.secret)
	for _, body := range []string{"", " {}", "[1]", "abc", "crc_token"} {
		r := request("POST", "", []byte(body), authz.HeaderValue{Name: "x-twitter-webhooks-signature", Value: "sha256=" + b64(hm(sha256.New, c.secret, body))})
		if _, err := v.Verify(r, vectNow); reasonOf(err) != authz.SignatureInvalid || !strings.Contains(err.Error(), "JSON object") {
			t.Errorf("body %q: %v", body, err)
		}
	}
	if !bytes.HasPrefix([]byte(vbody), []byte("{")) {
		t.Fatal("the vector body is no JSON object")
	}
	_ = base64.StdEncoding
}
