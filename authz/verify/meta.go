package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildMeta, Scheme{Sign: signMeta, Replayable: true, Handshakes: true})
}

// MetaSignatureHeader is the header Meta signs deliveries in.
const MetaSignatureHeader = "x-hub-signature-256"

// Meta verifies Meta webhooks (Facebook, Instagram, Messenger, WhatsApp
// Cloud API): X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256 of
// the raw body, as sent (Meta escapes non-ASCII as \uXXXX: re-encoding the
// JSON breaks the signature), under the app secret. Meta signs no timestamp
// and sends no delivery id; the replay key is the [ContentKey] of the body.
//
// Before subscribing, Meta sends GET ?hub.mode=subscribe&hub.verify_token=
// ...&hub.challenge=...; Handshake answers it.
type Meta struct {
	keys   []*macKey
	tokens [][sha256.Size]byte
}

// NewMeta returns a Meta verifier accepting deliveries signed with any of
// secrets and subscription handshakes with any of verifyTokens (none refuses
// every handshake).
func NewMeta(secrets, verifyTokens []authz.Secret) *Meta {
	m := &Meta{keys: newMACKeys(sha256.New, secrets)}
	for _, t := range verifyTokens {
		m.tokens = append(m.tokens, sha256.Sum256(t))
	}
	return m
}

// buildMeta builds a Meta verifier from its policy configuration. Verify
// tokens are optional: without one, every subscription handshake is
// refused.
func buildMeta(c *policyv1.MetaVerify, env Env) (authz.Verifier, error) {
	secrets, err1 := env.Secrets("secrets", c.GetSecrets())
	var tokens []authz.Secret
	var err2 error
	if len(c.GetVerifyTokens()) > 0 {
		tokens, err2 = env.Secrets("verify_tokens", c.GetVerifyTokens())
	}
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return NewMeta(secrets, tokens), nil
}

// Scheme returns "meta".
func (*Meta) Scheme() string { return "meta" }

// Verify checks X-Hub-Signature-256 against the body.
func (m *Meta) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	var v authz.Verified
	key, err := verifyHubSignature(m.keys, r)
	if err != nil {
		return v, err
	}
	v.ReplayKey = key
	return v, nil
}

// verifyHubSignature checks "X-Hub-Signature-256: sha256=<hex>" over the
// body and returns the replay key.
func verifyHubSignature(keys []*macKey, r *authz.Request) ([]byte, error) {
	sig, err := signatureHeader(r, MetaSignatureHeader)
	if err != nil {
		return nil, err
	}
	var want [sha256.Size]byte
	if err := decodePrefixedHex(want[:], sig, "sha256="); err != nil {
		return nil, err
	}
	key := matchMAC(keys, want[:], r.Body)
	if key == nil {
		return nil, errNoSecretMatches
	}
	return key, nil
}

// Handshake answers Meta's subscription verification: a GET with
// hub.mode=subscribe whose hub.verify_token is a configured verify token
// (compared as SHA-256 digests in constant time) gets hub.challenge back as
// text/plain. Any other request returns nil.
func (m *Meta) Handshake(r *authz.Request, _ time.Time) (*authz.Response, error) {
	if r.Method != "GET" || r.Query == "" {
		return nil, nil
	}
	if len(r.Query) > maxSignatureHeader {
		return nil, fmt.Errorf("%w: query longer than %d bytes", authz.SignatureInvalid, maxSignatureHeader)
	}
	meter.form(len(r.Query))
	q, err := url.ParseQuery(r.Query)
	if err != nil || q.Get("hub.mode") != "subscribe" {
		return nil, nil
	}
	token := q.Get("hub.verify_token")
	if token == "" {
		return nil, fmt.Errorf("%w: no hub.verify_token", authz.SignatureMissing)
	}
	digest := sha256.Sum256([]byte(token))
	meter.hash(hashSHA256, len(token))
	match := 0
	for i := range m.tokens {
		match |= subtle.ConstantTimeCompare(digest[:], m.tokens[i][:])
	}
	if match != 1 {
		return nil, fmt.Errorf("%w: hub.verify_token matches no verify token", authz.SignatureInvalid)
	}
	challenge := q.Get("hub.challenge")
	if challenge == "" || len(challenge) > maxHandshakeToken {
		return nil, fmt.Errorf("%w: no usable hub.challenge", authz.SignatureInvalid)
	}
	return &authz.Response{ContentType: "text/plain", Body: []byte(challenge)}, nil
}

// signMeta returns the header Meta sends.
func signMeta(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	h, err := signGitHub(secret, m)
	if err != nil {
		return nil, err
	}
	return h[:1], nil
}
