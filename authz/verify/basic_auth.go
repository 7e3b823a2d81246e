package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildBasicAuth, Scheme{Sign: signBasicAuth})
}

// BasicAuth verifies HTTP Basic authentication (RFC 7617), as Postmark,
// Pipedrive or Chargebee send it: `Authorization: Basic <base64 of
// user:password>`. Like a token it signs nothing, so it yields no replay
// key; the header is a credential and never goes upstream.
//
// Credentials are compared as SHA-256 digests of `user:password` in
// constant time, so neither content nor length shows in the timing.
type BasicAuth struct {
	digests [][sha256.Size]byte
}

// maxBasicAuthHeader bounds the Authorization header decoded.
const maxBasicAuthHeader = 1024

// NewBasicAuth returns a BasicAuth verifier accepting any of credentials,
// each `user:password`.
func NewBasicAuth(credentials []authz.Secret) *BasicAuth {
	b := &BasicAuth{}
	for _, c := range credentials {
		b.digests = append(b.digests, sha256.Sum256(c))
	}
	return b
}

// buildBasicAuth builds a BasicAuth verifier from its policy configuration.
// A credential without a colon is taken as is; it never matches, since
// every Basic credential has one.
func buildBasicAuth(c *policyv1.BasicAuthVerify, env Env) (authz.Verifier, error) {
	creds, err := env.Secrets("secrets", c.GetSecrets())
	if err != nil {
		return nil, err
	}
	return NewBasicAuth(creds), nil
}

// Scheme returns "basic_auth".
func (*BasicAuth) Scheme() string { return "basic_auth" }

// CredentialHeaders returns authorization: it is always removed.
func (*BasicAuth) CredentialHeaders() []string { return []string{"authorization"} }

// Verify checks the Authorization header.
func (b *BasicAuth) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	var v authz.Verified
	got := r.Header.Get("authorization")
	if got == "" {
		return v, authz.SignatureMissing
	}
	if len(got) > maxBasicAuthHeader {
		return v, fmt.Errorf("%w: authorization header longer than %d bytes", authz.SignatureInvalid, maxBasicAuthHeader)
	}
	encoded, ok := cutPrefixFold(got, "Basic ")
	if !ok {
		return v, fmt.Errorf("%w: not Basic authentication", authz.SignatureMissing)
	}
	var buf [maxBasicAuthHeader]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(strings.TrimSpace(encoded)))
	if err != nil {
		return v, fmt.Errorf("%w: credentials are not base64", authz.SignatureInvalid)
	}
	digest := sha256.Sum256(buf[:n])
	meter.hash(hashSHA256, n)
	match := 0
	for i := range b.digests {
		match |= subtle.ConstantTimeCompare(digest[:], b.digests[i][:])
	}
	if match != 1 {
		return v, authz.SignatureInvalid
	}
	return v, nil
}

// signBasicAuth returns the Authorization header for credentials
// `user:password`.
func signBasicAuth(credentials authz.Secret, _ Message) ([]authz.HeaderValue, error) {
	return []authz.HeaderValue{{Name: "Authorization", Value: "Basic " + base64.StdEncoding.EncodeToString(credentials)}}, nil
}
