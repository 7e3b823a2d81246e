package verify

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	// The traits are those of the mechanism the named provider uses
	// (see ProviderVerifier.traits); a ProviderVerifier implements
	// Timestamped and authz.Handshaker whatever the mechanism, answering
	// zero and nil where it has neither.
	Register(buildProvider, Scheme{Replayable: true, Timestamped: true, Handshakes: true})
}

// ProviderVerifier verifies a provider of the catalog: the verifier of its
// mechanism, built from the catalog's parameters and the policy's secrets,
// and the handshakes the catalog declares for it. Its Scheme is the
// provider's name, which the upstream sees in x-hookguard-verified.
type ProviderVerifier struct {
	name       string
	inner      authz.Verifier
	replayable bool
	handshakes []responder
	// jsonObjects: only JSON objects are deliveries, because a handshake
	// answers an HMAC of something else (X's CRC).
	jsonObjects bool
}

// buildProvider builds the verifier of the provider c names.
func buildProvider(c *policyv1.ProviderVerify, env Env) (authz.Verifier, error) {
	p, version, err := lookupPreset(c.GetName(), c.GetVersion())
	if err != nil {
		return nil, err
	}
	v, fd, _ := p.mechanismOf(version)
	if c.GetTolerance() != "" && !signsTimestamp(v) {
		return nil, fieldError("tolerance", p.info.Name+" signs no timestamp")
	}
	mech := v.ProtoReflect().Get(fd).Message()
	if err := applyOptions(c, p, mech, version == ""); err != nil {
		return nil, err
	}
	inner, s, err := New(v, env)
	if err != nil {
		return nil, err
	}
	pv := &ProviderVerifier{name: p.info.Name, inner: inner, replayable: s.Replayable}
	for _, h := range p.handshakes {
		r, err := h.responder(env, c)
		if err != nil {
			return nil, err
		}
		pv.handshakes = append(pv.handshakes, r)
		if h.Kind == "crc" {
			pv.jsonObjects = true
		}
	}
	return pv, nil
}

// signsTimestamp reports whether a mechanism's configuration checks a
// signed timestamp, and so takes a tolerance.
func signsTimestamp(v *policyv1.Verify) bool {
	if h := v.GetHmac(); h != nil {
		return h.GetTimestampHeader() != "" || h.GetTimestampKey() != ""
	}
	fd := v.ProtoReflect().WhichOneof(schemeOneof)
	return fd.Message().Fields().ByName("tolerance") != nil
}

// lookupPreset finds the preset and version a policy names, or says what
// is wrong on the field at fault.
func lookupPreset(name, version string) (*preset, string, error) {
	if name == "" {
		return nil, "", fieldError("name", "required: a provider of `hookguard providers`")
	}
	p, ok := catalog.byName[providerName(name)]
	if !ok {
		return nil, "", fieldError("name", fmt.Sprintf("unknown provider %q; closest: %s (hookguard providers lists them all)",
			name, strings.Join(ClosestProviders(name, 3), ", ")))
	}
	if !p.info.Supported() {
		return nil, "", fieldError("name", fmt.Sprintf("provider %s is not supported: %s", p.info.Name, p.info.Unsupported))
	}
	if _, ok := p.verify[version]; !ok {
		msg := p.info.Name + " has no other signature version"
		if len(p.info.Versions) > 0 {
			msg = fmt.Sprintf("%s has versions %s besides the default", p.info.Name, strings.Join(p.info.Versions, ", "))
		}
		return nil, "", fieldError("version", fmt.Sprintf("unknown version %q: %s", version, msg))
	}
	return p, version, nil
}

// applyOptions copies the policy's secrets and options into the
// mechanism's configuration, field by field of the same name, and, for the
// default version, the catalog's default tolerance where the policy gives
// none (older versions have their mechanism's). An option the mechanism
// has no field for is an error.
func applyOptions(c *policyv1.ProviderVerify, p *preset, mech protoreflect.Message, defaultVersion bool) error {
	src := c.ProtoReflect()
	var errs error
	for _, opt := range providerOptions {
		from := src.Descriptor().Fields().ByName(protoreflect.Name(opt))
		to := mech.Descriptor().Fields().ByName(protoreflect.Name(opt))
		if !src.Has(from) {
			continue
		}
		if to == nil {
			errs = errors.Join(errs, fieldError(opt, p.info.Name+" takes no "+opt))
			continue
		}
		mech.Set(to, src.Get(from))
	}
	if to := mech.Descriptor().Fields().ByName("tolerance"); to != nil && c.GetTolerance() == "" && p.tolerance != "" && defaultVersion {
		mech.Set(to, protoreflect.ValueOfString(p.tolerance))
	}
	return errs
}

// Scheme returns the provider's name.
func (p *ProviderVerifier) Scheme() string { return p.name }

// traits returns s with the traits of the provider's mechanism.
func (p *ProviderVerifier) traits(s Scheme) Scheme {
	s.Replayable = p.replayable
	return s
}

// Tolerance returns the mechanism's tolerance, or zero when it checks no
// timestamp.
func (p *ProviderVerifier) Tolerance() time.Duration {
	if ts, ok := p.inner.(Timestamped); ok {
		return ts.Tolerance()
	}
	return 0
}

// CredentialHeaders returns the mechanism's credential headers, if any.
func (p *ProviderVerifier) CredentialHeaders() []string {
	if cv, ok := p.inner.(authz.CredentialVerifier); ok {
		return cv.CredentialHeaders()
	}
	return nil
}

// Verify checks a delivery with the provider's mechanism.
func (p *ProviderVerifier) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	if p.jsonObjects && (len(r.Body) == 0 || r.Body[0] != '{') {
		// A handshake of this provider answers the HMAC of a token that
		// cannot start with '{': refusing every other body means no
		// answer is ever the signature of a delivery.
		return authz.Verified{}, fmt.Errorf("%w: a delivery must be a JSON object", authz.SignatureInvalid)
	}
	return p.inner.Verify(r, now)
}

// Handshake answers the handshakes the catalog declares for the provider,
// then those of its mechanism (Zoom, Twitch, Meta, Discord); nil for a
// delivery.
func (p *ProviderVerifier) Handshake(r *authz.Request, now time.Time) (*authz.Response, error) {
	for _, h := range p.handshakes {
		if resp, err := h.answer(p, r, now); resp != nil || err != nil {
			return resp, err
		}
	}
	if hs, ok := p.inner.(authz.Handshaker); ok {
		return hs.Handshake(r, now)
	}
	return nil, nil
}

// SignProvider returns the delivery the named provider would send with m,
// signed with key as the provider shows it (a secret, or the private key
// of an asymmetric mechanism), in the given signature version ("" for the
// newest). m's defaults are filled as [Sign] does.
func SignProvider(name, version string, key authz.Secret, m Message) (Delivery, error) {
	p, version, err := lookupPreset(name, version)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			err = fe.Err
		}
		return Delivery{}, fmt.Errorf("verify: sign %s: %w", name, err)
	}
	m = m.withDefaults()
	v, fd, _ := p.mechanismOf(version)
	d := Delivery{Body: m.Body, URL: m.URL}
	switch mech := string(fd.Name()); mech {
	case "hmac":
		h, err := buildHMAC(v.GetHmac(), keyEnv{key})
		if err != nil {
			return d, fmt.Errorf("verify: sign %s: %w", name, err)
		}
		hm := h.(*HMAC)
		if hm.ext != nil {
			d, err = hm.signExt(m)
		} else {
			d.Headers, err = hm.Sign(m)
		}
		if err != nil {
			return d, fmt.Errorf("verify: sign %s: %w", name, err)
		}
	case "token":
		// The token goes in the preset's header, as is.
		t := v.GetToken()
		d.Headers = []authz.HeaderValue{{Name: t.GetHeader(), Value: t.GetPrefix() + string(key)}}
	case "mailgun":
		if d.Body, err = SignMailgunBody(key, m); err != nil {
			return d, fmt.Errorf("verify: sign %s: %w", name, err)
		}
	default:
		if d.Headers, err = Sign(mech, key, m); err != nil {
			return d, err
		}
	}
	return d, nil
}

// keyEnv resolves every secret reference to one key, to sign as a
// provider's preset describes.
type keyEnv struct{ key authz.Secret }

func (e keyEnv) Secrets(string, []*policyv1.SecretRef) ([]authz.Secret, error) {
	return []authz.Secret{e.key}, nil
}
func (e keyEnv) Secret(string, *policyv1.SecretRef) (authz.Secret, error) { return e.key, nil }
func (keyEnv) Warn(string, string)                                        {}
