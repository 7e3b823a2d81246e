package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildToken, Scheme{Sign: signToken})
}

// Token verifies a shared token sent as is in a header, as GitLab does with
// X-Gitlab-Token, or as "Authorization: Bearer <token>". A token signs
// nothing, so it yields no replay key; the token header is a credential and
// never goes upstream.
//
// Tokens are compared as SHA-256 digests in constant time, so neither the
// content nor the length of an accepted token shows in the timing.
type Token struct {
	header   string
	prefix   string
	idHeader string
	digests  [][sha256.Size]byte
}

// NewToken returns a Token verifier reading the token from header (lower
// case) after prefix (e.g. "Bearer ", matched case-insensitively; may be
// empty), reporting idHeader (may be empty) as the delivery id, and
// accepting any of tokens.
func NewToken(header, prefix, idHeader string, tokens []authz.Secret) *Token {
	t := &Token{header: header, prefix: prefix, idHeader: idHeader}
	for _, s := range tokens {
		t.digests = append(t.digests, sha256.Sum256(s))
	}
	return t
}

// buildToken builds a Token verifier from its policy configuration.
func buildToken(c *policyv1.TokenVerify, env Env) (authz.Verifier, error) {
	header, err1 := headerField("header", c.GetHeader(), true)
	idHeader, err2 := headerField("id_header", c.GetIdHeader(), false)
	tokens, err3 := env.Secrets("secrets", c.GetSecrets())
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return NewToken(header, c.GetPrefix(), idHeader, tokens), nil
}

// Scheme returns "token".
func (*Token) Scheme() string { return "token" }

// CredentialHeaders returns the token header: it is always removed.
func (t *Token) CredentialHeaders() []string { return []string{t.header} }

// Verify checks the token header.
func (t *Token) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	var v authz.Verified
	if t.idHeader != "" {
		v.DeliveryID = deliveryID(r, t.idHeader)
	}
	got := r.Header.Get(t.header)
	if got == "" {
		return v, authz.SignatureMissing
	}
	if t.prefix != "" {
		if len(got) < len(t.prefix) || !strings.EqualFold(got[:len(t.prefix)], t.prefix) {
			return v, authz.SignatureMissing
		}
		got = got[len(t.prefix):]
	}
	digest := sha256.Sum256([]byte(got))
	meter.hash(hashSHA256, len(got))
	match := 0
	for i := range t.digests {
		match |= subtle.ConstantTimeCompare(digest[:], t.digests[i][:])
	}
	if match != 1 {
		return v, authz.SignatureInvalid
	}
	return v, nil
}

// signToken returns the headers GitLab sends: the token itself.
func signToken(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	return []authz.HeaderValue{
		{Name: "X-Gitlab-Token", Value: string(secret)},
		{Name: "X-Gitlab-Event-UUID", Value: m.ID},
	}, nil
}
