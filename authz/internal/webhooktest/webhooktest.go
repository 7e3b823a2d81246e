// Package webhooktest provides what the tests that attack hookguard share: a
// policy with one endpoint per signature scheme, each with its own known,
// distinctive secret; deliveries signed for those endpoints as their
// providers sign them, in the form Envoy sends them (an ext_authz
// CheckRequest); and checks written independently of hookguard's own code,
// which say what a signature covers and whether a path or an authority is
// canonical. Fuzz, hostile-input, leak and soak tests use them to tell an
// allowed forgery from an allowed delivery.
//
// It is imported by tests only.
package webhooktest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/policy"
)

// Host is the :authority every endpoint of the policy is restricted to.
const Host = "hooks.example.com"

// SecretMarker starts every secret value the policy's endpoints hold, so a
// test can look for any of them at once, as well as for each value.
const SecretMarker = "hgsecret-"

// BodyCanary is in the body of every delivery: the body must never show in
// a log line, a header, a metric or a denial.
const BodyCanary = "hgbody-4c1d9e"

// Endpoint is one endpoint of the policy.
type Endpoint struct {
	// Name is the endpoint's name; it listens on /webhooks/<Name>.
	Name string
	// Scheme is the verifier's scheme, as the verify registry names it.
	Scheme string
	// Verified is the scheme as hookguard reports it in
	// x-hookguard-verified: the provider's name for a provider of the
	// catalog, else Scheme. Covered and SignatureHeaders take it.
	Verified string
	// Env holds the values of the environment variables the endpoint's
	// secret references read: what hookguard holds for it.
	Env map[string]string
	// Secrets are the secret values hookguard holds for the endpoint, in
	// every spelling they might leak in (as configured, and decoded when
	// the configuration is an encoding of them). Public keys are not
	// secrets and are not listed.
	Secrets []string

	verify  string       // the verify block, in YAML flow style
	methods string       // the match's methods, in YAML flow style; "" is POST
	signKey authz.Secret // what the provider signs with
}

// Methods are the methods the endpoint allows.
func (e *Endpoint) Methods() []string {
	if e.methods == "" {
		return []string{"POST"}
	}
	return strings.Split(strings.Trim(e.methods, "[]"), ", ")
}

// Path is the path the endpoint matches, as a prefix.
func (e *Endpoint) Path() string { return "/webhooks/" + e.Name }

// secretValue is the distinctive secret of an endpoint: the marker, the
// name and a fixed suffix, so two endpoints never share a secret.
func secretValue(name string) string {
	sum := sha256.Sum256([]byte("webhooktest " + name))
	return SecretMarker + name + "-" + hex.EncodeToString(sum[:6])
}

// The asymmetric keys: providers sign with the private halves, hookguard
// holds the public ones. Fixed, so committed fuzz seeds stay valid.
var (
	discordSeed = sha256.Sum256([]byte("webhooktest discord"))
	discordKey  = ed25519.NewKeyFromSeed(discordSeed[:])
)

const (
	sendgridPrivate = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLiLXvZgASPpljHzj
urgc5Y/h+juJVPYZ1KrYdHldEOGhRANCAAR9tr2N9YT/RkafPFYnzEGjlhN/JZhz
rHPE2Zi4JmjJnDwGWM8FKooId6G6VQLdXcV99ijHf5pW/xDVmVxRAkAV
-----END PRIVATE KEY-----
`
	sendgridPublic = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfba9jfWE/0ZGnzxWJ8xBo5YTfyWYc6xzxNmYuCZoyZw8BljPBSqKCHehulUC3V3FffYox3+aVv8Q1ZlcUQJAFQ=="
)

// HTTPSigKeyID is the keyid of the http-message-signatures endpoint's key.
const HTTPSigKeyID = "hg-key"

// SquareURL is the square endpoint's notification_url.
const SquareURL = "https://" + Host + "/webhooks/square"

// endpoints builds the table: a row for every scheme of the verify
// registry (TestEveryScheme checks it).
func endpoints() []*Endpoint {
	var out []*Endpoint
	// add adds an endpoint whose secret is one variable, used as is.
	add := func(name, scheme, verifyBlock string) *Endpoint {
		env := "HG_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_SECRET"
		s := secretValue(name)
		e := &Endpoint{
			Name: name, Scheme: scheme, Verified: scheme,
			Env:     map[string]string{env: s},
			Secrets: []string{s},
			verify:  strings.ReplaceAll(verifyBlock, "$ENV", env),
			signKey: authz.Secret(s),
		}
		out = append(out, e)
		return e
	}
	add("github", "github", `github: {secrets: [{env: $ENV}]}`)
	add("token", "token", `token: {header: x-gitlab-token, id_header: x-gitlab-event-uuid, secrets: [{env: $ENV}]}`)
	add("stripe", "stripe", `stripe: {secrets: [{env: $ENV}]}`)
	add("slack", "slack", `slack: {secrets: [{env: $ENV}]}`)
	add("shopify", "shopify", `shopify: {secrets: [{env: $ENV}]}`)
	add("twilio", "twilio", `twilio: {secrets: [{env: $ENV}]}`)
	add("square", "square", `square: {secrets: [{env: $ENV}], notification_url: "`+SquareURL+`"}`)
	add("zoom", "zoom", `zoom: {secrets: [{env: $ENV}]}`)
	add("linear", "linear", `linear: {secrets: [{env: $ENV}]}`)
	add("pagerduty", "pagerduty", `pagerduty: {secrets: [{env: $ENV}]}`)
	add("paddle", "paddle", `paddle: {secrets: [{env: $ENV}]}`)
	add("twitch", "twitch", `twitch: {secrets: [{env: $ENV}]}`)
	add("mailgun", "mailgun", `mailgun: {secrets: [{env: $ENV}]}`)
	add("hmac", "hmac", `hmac: {secrets: [{env: $ENV}], algorithm: sha256, header: x-hg-signature, prefix: "v1=", separator: ",", `+
		`encoding: base64, signed_content: "{id}.{timestamp}.{method}.{path}.{body}", id_header: x-hg-id, timestamp_header: x-hg-timestamp}`)

	// A catalog provider: X, whose CRC handshake answers an HMAC under
	// the key deliveries are signed with.
	x := add("twitter", "provider", `provider: {name: twitter, secrets: [{env: $ENV}]}`)
	x.Verified, x.methods = "twitter", "[GET, POST]"

	// Basic authentication: the secret is user:password.
	basic := add("basic-auth", "basic_auth", `basic_auth: {secrets: [{env: $ENV}]}`)
	basic.Secrets[0] = "hg-user:" + basic.Secrets[0]
	basic.Env["HG_BASIC_AUTH_SECRET"] = basic.Secrets[0]
	basic.signKey = authz.Secret(basic.Secrets[0])
	basic.Secrets = append(basic.Secrets, base64.StdEncoding.EncodeToString([]byte(basic.Secrets[0])))

	meta := add("meta", "meta", `meta: {secrets: [{env: $ENV}], verify_tokens: [{env: HG_META_VERIFY_TOKEN}]}`)
	meta.methods = "[GET, POST]" // the handshake is a GET
	verifyToken := secretValue("meta-verify")
	meta.Env["HG_META_VERIFY_TOKEN"] = verifyToken
	meta.Secrets = append(meta.Secrets, verifyToken)

	// Standard Webhooks and RFC 9421 HMAC keys are configured base64
	// encoded: both spellings are secret.
	sw := add("standard-webhooks", "standard_webhooks", `standard_webhooks: {secrets: [{env: $ENV}]}`)
	raw := sw.Secrets[0]
	sw.Env["HG_STANDARD_WEBHOOKS_SECRET"] = "whsec_" + base64.StdEncoding.EncodeToString([]byte(raw))
	sw.signKey = authz.Secret(sw.Env["HG_STANDARD_WEBHOOKS_SECRET"])
	sw.Secrets = append(sw.Secrets, sw.Env["HG_STANDARD_WEBHOOKS_SECRET"], base64.StdEncoding.EncodeToString([]byte(raw)))

	hs := add("http-message-signatures", "http_message_signatures",
		`http_message_signatures: {keys: [{keyid: `+HTTPSigKeyID+`, algorithm: hmac-sha256, key: {env: $ENV}}]}`)
	raw = hs.Secrets[0]
	hs.Env["HG_HTTP_MESSAGE_SIGNATURES_SECRET"] = base64.StdEncoding.EncodeToString([]byte(raw))
	hs.signKey = authz.Secret(hs.Env["HG_HTTP_MESSAGE_SIGNATURES_SECRET"])
	hs.Secrets = append(hs.Secrets, hs.Env["HG_HTTP_MESSAGE_SIGNATURES_SECRET"])

	// Public keys: hookguard holds nothing secret for these.
	out = append(out,
		&Endpoint{Name: "discord", Scheme: "discord", Verified: "discord",
			Env:     map[string]string{"HG_DISCORD_PUBLIC_KEY": hex.EncodeToString(discordKey.Public().(ed25519.PublicKey))},
			verify:  `discord: {public_keys: [{env: HG_DISCORD_PUBLIC_KEY}]}`,
			signKey: authz.Secret(hex.EncodeToString(discordSeed[:]))},
		&Endpoint{Name: "sendgrid", Scheme: "sendgrid", Verified: "sendgrid",
			Env:     map[string]string{"HG_SENDGRID_PUBLIC_KEY": sendgridPublic},
			verify:  `sendgrid: {public_keys: [{env: HG_SENDGRID_PUBLIC_KEY}]}`,
			signKey: authz.Secret(sendgridPrivate)},
	)
	slices.SortFunc(out, func(a, b *Endpoint) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Endpoints returns the policy's endpoints, sorted by name. Each call
// returns new values.
func Endpoints() []*Endpoint { return endpoints() }

// Lookup returns the endpoint named name, or nil.
func Lookup(name string) *Endpoint {
	for _, e := range endpoints() {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// PolicyYAML is the policy file: every endpoint in ENFORCE mode, on its own
// path prefix, restricted to Host, with the default replay protection.
func PolicyYAML() string {
	var b strings.Builder
	b.WriteString("endpoints:\n")
	for _, e := range endpoints() {
		methods := ""
		if e.methods != "" {
			methods = ", methods: " + e.methods
		}
		fmt.Fprintf(&b, "  - name: %s\n    match: {hosts: [%s], path_prefix: %s%s}\n    verify: {%s}\n    mode: ENFORCE\n",
			e.Name, Host, e.Path(), methods, e.verify)
	}
	return b.String()
}

// WritePolicy writes the policy file into dir as endpoints.yaml.
func WritePolicy(dir string) error {
	return os.WriteFile(filepath.Join(dir, "endpoints.yaml"), []byte(PolicyYAML()), 0o600)
}

// Secrets resolves the policy's secret references, from a fixed map and
// never from the process environment; files are not resolved. Add sets
// further variables, for tests with endpoints of their own.
type Secrets map[string]string

// NewSecrets returns the variables of every endpoint.
func NewSecrets() Secrets {
	s := Secrets{}
	for _, e := range endpoints() {
		for k, v := range e.Env {
			s[k] = v
		}
	}
	return s
}

// LookupEnv returns the variable's value.
func (s Secrets) LookupEnv(name string) (string, bool) {
	v, ok := s[name]
	return v, ok
}

// ReadFile refuses: the policy reads no secret files.
func (Secrets) ReadFile(path string) ([]byte, error) { return nil, os.ErrNotExist }

// AllSecrets lists every secret value of every endpoint, in every spelling
// Endpoint.Secrets gives.
func AllSecrets() []string {
	var out []string
	for _, e := range endpoints() {
		out = append(out, e.Secrets...)
	}
	return out
}

// Schemes lists the schemes the table covers, sorted.
func Schemes() []string {
	var out []string
	for _, e := range endpoints() {
		out = append(out, e.Scheme)
	}
	slices.Sort(out)
	return out
}

// Load writes the policy into dir and compiles it with its secrets.
func Load(dir string) (*authz.Policy, error) {
	if err := WritePolicy(dir); err != nil {
		return nil, err
	}
	res, err := policy.Load(dir, policy.Options{Secrets: NewSecrets()})
	if err != nil {
		return nil, err
	}
	return res.Policy, nil
}

// NewAuthorizer returns an authorizer deciding with p on clock, with the
// in-memory replay store and rate limiter hookguard serves with.
func NewAuthorizer(p *authz.Policy, clock authz.Clock) *authz.Authorizer {
	a := authz.NewAuthorizer(authz.Config{
		Nonces:  replay.NewMemory(replay.MemoryConfig{Capacity: 10000, Clock: clock}),
		Limiter: ratelimit.NewMemory(),
		Clock:   clock,
	})
	a.SetPolicy(p)
	return a
}

// Clock is a settable clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set sets the clock's time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
