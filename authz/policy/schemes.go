package policy

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// maxTolerance bounds a scheme's timestamp tolerance: beyond a day a
// timestamp no longer limits anything the replay cache could not.
const maxTolerance = 24 * time.Hour

// compileVerifier builds the verifier the policy names, through the scheme
// registry of package verify. replayable reports whether the scheme yields
// a replay key, and so whether replay protection applies.
func (c *compiler) compileVerifier(file string, v *policyv1.Verify, fail, warn func(field, msg string)) (_ authz.Verifier, replayable bool) {
	env := &schemeEnv{c: c, file: file}
	vf, scheme, err := verify.New(v, env)
	if scheme.Name == "" {
		return c.compileUnregistered(file, v, fail, warn)
	}
	field := "verify." + scheme.Name
	for _, w := range env.warnings {
		warn(joinPath(field, w.field), w.msg)
	}
	if err != nil {
		reportFieldErrors(field, err, fail)
		return nil, scheme.Replayable
	}
	return vf, scheme.Replayable
}

// reportFieldErrors reports err, from building the verifier of the scheme
// under field, on the fields its *verify.FieldError values name; several
// errors are joined.
func reportFieldErrors(field string, err error, fail func(field, msg string)) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			reportFieldErrors(field, e, fail)
		}
		return
	}
	msg := err.Error()
	var fe *verify.FieldError
	if errors.As(err, &fe) {
		field, msg = joinPath(field, fe.Field), fe.Err.Error()
	}
	fail(field, msg)
}

// schemeEnv is the verify.Env of one endpoint's scheme: secrets resolve
// through the compiler's SecretSource, relative to the policy file, and
// warnings wait until the scheme, and so their field, is known.
type schemeEnv struct {
	c        *compiler
	file     string
	warnings []schemeWarning
}

// schemeWarning is a warning of a scheme's constructor.
type schemeWarning struct{ field, msg string }

// Secrets resolves a list of references.
func (e *schemeEnv) Secrets(field string, refs []*policyv1.SecretRef) ([]authz.Secret, error) {
	return e.c.resolveSecrets(e.file, field, refs)
}

// Secret resolves one reference.
func (e *schemeEnv) Secret(field string, ref *policyv1.SecretRef) (authz.Secret, error) {
	return e.c.resolveSecret(e.file, field, ref)
}

// Warn keeps a warning for compileVerifier to report.
func (e *schemeEnv) Warn(field, msg string) {
	e.warnings = append(e.warnings, schemeWarning{field, msg})
}

// compileUnregistered builds the verifier of a scheme that does not
// register itself with package verify yet.
func (c *compiler) compileUnregistered(file string, v *policyv1.Verify, fail, warn func(field, msg string)) (_ authz.Verifier, replayable bool) {
	// secrets resolves a list under verify.<scheme>.
	secrets := func(scheme, field string, refs []*policyv1.SecretRef) []authz.Secret {
		return c.legacySecrets(file, refs, "verify."+scheme+"."+field, fail)
	}
	tol := func(scheme, s string) time.Duration {
		return compileTolerance("verify."+scheme+".tolerance", s, fail)
	}
	// built reports a constructor error on the scheme's field, or returns
	// the verifier. Constructor errors start with the field they concern
	// when there is one.
	built := func(scheme string, vf authz.Verifier, err error) (authz.Verifier, bool) {
		if err != nil {
			field, msg := "verify."+scheme, err.Error()
			if f, rest, ok := strings.Cut(msg, ": "); ok && !strings.Contains(f, " ") {
				field, msg = field+"."+f, rest
			}
			fail(field, msg)
			return nil, false
		}
		return vf, true
	}
	switch s := v.GetScheme().(type) {
	case *policyv1.Verify_Github:
		return verify.NewGitHub(secrets("github", "secrets", s.Github.GetSecrets())), true
	case *policyv1.Verify_Token:
		t := s.Token
		header := strings.ToLower(t.GetHeader())
		if header == "" {
			fail("verify.token.header", "required")
		} else if !headerName.MatchString(header) {
			fail("verify.token.header", "must be a header name")
		}
		idHeader := strings.ToLower(t.GetIdHeader())
		if idHeader != "" && !headerName.MatchString(idHeader) {
			fail("verify.token.id_header", "must be a header name")
		}
		secrets := c.legacySecrets(file, t.GetSecrets(), "verify.token.secrets", fail)
		return verify.NewToken(header, t.GetPrefix(), idHeader, secrets), false
	case *policyv1.Verify_Stripe:
		return verify.NewStripe(secrets("stripe", "secrets", s.Stripe.GetSecrets()), tol("stripe", s.Stripe.GetTolerance())), true
	case *policyv1.Verify_Slack:
		return verify.NewSlack(secrets("slack", "secrets", s.Slack.GetSecrets()), tol("slack", s.Slack.GetTolerance())), true
	case *policyv1.Verify_StandardWebhooks:
		sw := s.StandardWebhooks
		if len(sw.GetSecrets()) == 0 && len(sw.GetPublicKeys()) == 0 {
			fail("verify.standard_webhooks", "set secrets (whsec_) or public_keys (whpk_)")
			return nil, false
		}
		var sec, pub []authz.Secret
		if len(sw.GetSecrets()) > 0 {
			sec = secrets("standard_webhooks", "secrets", sw.GetSecrets())
		}
		if len(sw.GetPublicKeys()) > 0 {
			pub = secrets("standard_webhooks", "public_keys", sw.GetPublicKeys())
		}
		if len(sec) != len(sw.GetSecrets()) || len(pub) != len(sw.GetPublicKeys()) {
			return nil, false // already reported
		}
		vf, err := verify.NewStandardWebhooks(sec, pub, tol("standard_webhooks", sw.GetTolerance()))
		return built("standard_webhooks", vf, err)
	case *policyv1.Verify_Shopify:
		return verify.NewShopify(secrets("shopify", "secrets", s.Shopify.GetSecrets())), true
	case *policyv1.Verify_Twilio:
		return verify.NewTwilio(secrets("twilio", "secrets", s.Twilio.GetSecrets())), true
	case *policyv1.Verify_Discord:
		keys := secrets("discord", "public_keys", s.Discord.GetPublicKeys())
		if len(keys) == 0 {
			return nil, false
		}
		vf, err := verify.NewDiscord(keys, tol("discord", s.Discord.GetTolerance()))
		return built("discord", vf, err)
	case *policyv1.Verify_Sendgrid:
		keys := secrets("sendgrid", "public_keys", s.Sendgrid.GetPublicKeys())
		if len(keys) == 0 {
			return nil, false
		}
		vf, err := verify.NewSendGrid(keys, tol("sendgrid", s.Sendgrid.GetTolerance()))
		return built("sendgrid", vf, err)
	case *policyv1.Verify_Square:
		u := s.Square.GetNotificationUrl()
		if p, err := url.Parse(u); u == "" || err != nil || p.Scheme == "" || p.Host == "" {
			fail("verify.square.notification_url", "required: the absolute URL configured in Square")
			return nil, false
		}
		vf, err := verify.NewSquare(secrets("square", "secrets", s.Square.GetSecrets()), u)
		return built("square", vf, err)
	case *policyv1.Verify_Zoom:
		return verify.NewZoom(secrets("zoom", "secrets", s.Zoom.GetSecrets()), tol("zoom", s.Zoom.GetTolerance())), true
	case *policyv1.Verify_Meta:
		m := s.Meta
		var tokens []authz.Secret
		if len(m.GetVerifyTokens()) > 0 {
			tokens = secrets("meta", "verify_tokens", m.GetVerifyTokens())
		}
		return verify.NewMeta(secrets("meta", "secrets", m.GetSecrets()), tokens), true
	case *policyv1.Verify_Pagerduty:
		return verify.NewPagerDuty(secrets("pagerduty", "secrets", s.Pagerduty.GetSecrets())), true
	case *policyv1.Verify_Paddle:
		return verify.NewPaddle(secrets("paddle", "secrets", s.Paddle.GetSecrets()), tol("paddle", s.Paddle.GetTolerance())), true
	case *policyv1.Verify_Twitch:
		return verify.NewTwitch(secrets("twitch", "secrets", s.Twitch.GetSecrets()), tol("twitch", s.Twitch.GetTolerance())), true
	case *policyv1.Verify_Mailgun:
		return verify.NewMailgun(secrets("mailgun", "secrets", s.Mailgun.GetSecrets()), tol("mailgun", s.Mailgun.GetTolerance())), true
	case *policyv1.Verify_Hmac:
		return c.compileHMAC(file, s.Hmac, fail)
	case *policyv1.Verify_HttpMessageSignatures:
		return c.compileHTTPSig(file, s.HttpMessageSignatures, fail, warn)
	default:
		fail("verify", "unsupported scheme")
		return nil, false
	}
}

// compileHMAC builds the generic HMAC scheme.
func (c *compiler) compileHMAC(file string, h *policyv1.HMACVerify, fail func(field, msg string)) (authz.Verifier, bool) {
	ok := true
	lowerHeader := func(field, name string, required bool) string {
		name = strings.ToLower(name)
		switch {
		case name == "" && required:
			fail("verify.hmac."+field, "required")
			ok = false
		case name != "" && !headerName.MatchString(name):
			fail("verify.hmac."+field, "must be a header name")
			ok = false
		}
		return name
	}
	cfg := verify.HMACConfig{
		Secrets:         c.legacySecrets(file, h.GetSecrets(), "verify.hmac.secrets", fail),
		Algorithm:       h.GetAlgorithm(),
		Header:          lowerHeader("header", h.GetHeader(), true),
		Prefix:          h.GetPrefix(),
		Encoding:        h.GetEncoding(),
		SignedContent:   h.GetSignedContent(),
		IDHeader:        lowerHeader("id_header", h.GetIdHeader(), false),
		TimestampHeader: lowerHeader("timestamp_header", h.GetTimestampHeader(), false),
		TimestampUnit:   h.GetTimestampUnit(),
		Tolerance:       compileTolerance("verify.hmac.tolerance", h.GetTolerance(), fail),
		Separator:       h.GetSeparator(),
	}
	if !ok || len(cfg.Secrets) == 0 {
		return nil, false
	}
	vf, err := verify.NewHMAC(cfg)
	if err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		fail("verify.hmac."+field, msg)
		return nil, false
	}
	return vf, true
}

// compileHTTPSig builds the RFC 9421 scheme.
func (c *compiler) compileHTTPSig(file string, h *policyv1.HTTPMessageSignaturesVerify, fail, warn func(field, msg string)) (authz.Verifier, bool) {
	if len(h.GetKeys()) == 0 {
		fail("verify.http_message_signatures.keys", "at least one key is required")
		return nil, false
	}
	keys := make([]verify.HTTPSigKey, 0, len(h.GetKeys()))
	ok := true
	for i, k := range h.GetKeys() {
		field := fmt.Sprintf("verify.http_message_signatures.keys[%d]", i)
		s := c.legacySecrets(file, []*policyv1.SecretRef{k.GetKey()}, field+".key", fail)
		if len(s) != 1 {
			ok = false
			continue
		}
		keys = append(keys, verify.HTTPSigKey{KeyID: k.GetKeyid(), Algorithm: strings.ToLower(k.GetAlgorithm()), Key: s[0]})
	}
	var required []string
	for _, r := range h.GetRequiredComponents() {
		required = append(required, strings.ToLower(r))
	}
	tolerance := compileTolerance("verify.http_message_signatures.tolerance", h.GetTolerance(), fail)
	if !ok {
		return nil, false
	}
	vf, err := verify.NewHTTPMessageSignatures(keys, required, tolerance)
	if err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		fail("verify.http_message_signatures."+field, msg)
		return nil, false
	}
	if required != nil && !slices.Contains(required, "content-digest") {
		warn("verify.http_message_signatures.required_components", `content-digest is not required: a signature that does not cover the body lets anyone change it`)
	}
	return vf, true
}

// replayWindow is the shortest replay TTL that covers a delivery for as long
// as its timestamp is accepted: a sender whose clock runs ahead may sign a
// timestamp up to the tolerance in the future, which then stays acceptable
// until the tolerance has passed after it, twice the tolerance from when the
// delivery was first accepted. Zero for schemes without a timestamp.
func replayWindow(v authz.Verifier) time.Duration {
	if ts, ok := v.(verify.Timestamped); ok {
		return 2 * ts.Tolerance()
	}
	return 0
}

// warnReplayWindow warns when an endpoint's replay TTL is shorter than its
// replay window: once the replay cache has forgotten a delivery, a captured
// copy sent again would be let through while its timestamp is still
// accepted.
func warnReplayWindow(v authz.Verifier, ttl time.Duration, warn func(field, msg string)) {
	window := replayWindow(v)
	if ttl >= window {
		return
	}
	tol := window / 2
	warn("replay.ttl", fmt.Sprintf("%s is shorter than twice the %s timestamp tolerance of %s: a captured delivery sent again after the TTL is let through while its timestamp is still accepted; set replay.ttl to at least %s",
		ttl, tol, v.Scheme(), window))
}

// compileTolerance parses a scheme's tolerance; "" is zero, which the
// verifiers read as the provider's default.
func compileTolerance(field, s string, fail func(field, msg string)) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		fail(field, fmt.Sprintf("invalid duration %q (use e.g. 5m, 90s)", s))
		return 0
	case d <= 0 || d > maxTolerance:
		fail(field, "must be more than 0 and at most "+maxTolerance.String())
		return 0
	}
	return d
}
