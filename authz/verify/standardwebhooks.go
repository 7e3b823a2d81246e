package verify

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildStandardWebhooks, Scheme{Sign: signStandardWebhooks, Replayable: true, Timestamped: true})
}

// Standard Webhooks header names, their Svix spellings, and the default
// tolerance.
const (
	StandardWebhooksIDHeader        = "webhook-id"
	StandardWebhooksTimestampHeader = "webhook-timestamp"
	StandardWebhooksSignatureHeader = "webhook-signature"
	SvixIDHeader                    = "svix-id"
	SvixTimestampHeader             = "svix-timestamp"
	SvixSignatureHeader             = "svix-signature"
	// StandardWebhooksDefaultTolerance is the five minutes the
	// specification recommends.
	StandardWebhooksDefaultTolerance = 5 * time.Minute
)

// StandardWebhooks verifies the Standard Webhooks specification, which Svix
// (and the providers built on it: Clerk, Resend, ...) implement with
// "svix-" header names. webhook-signature lists space-separated
// "<version>,<base64>" entries over "<webhook-id>.<webhook-timestamp>.<body>":
// v1 is HMAC-SHA256 under the decoded "whsec_" secret, v1a Ed25519 under a
// "whpk_" public key. Unknown versions are skipped; one known entry must
// verify.
//
// The message id is signed and stays the same across the sender's retries,
// so it is both the delivery id and the replay key: a delivery already let
// through is not let through again, whatever its timestamp.
type StandardWebhooks struct {
	keys       []*macKey
	publicKeys []ed25519.PublicKey
	tolerance  time.Duration
}

// NewStandardWebhooks returns a verifier accepting v1 signatures under any
// of secrets ("whsec_" + base64; the prefix is optional) and v1a signatures
// under any of publicKeys ("whpk_" + base64 of 32 bytes), with timestamps at
// most tolerance away (zero means StandardWebhooksDefaultTolerance). On a
// key it cannot decode it fails with a *FieldError naming the list and
// position, matching ErrSecretValue, and nothing of the key.
func NewStandardWebhooks(secrets, publicKeys []authz.Secret, tolerance time.Duration) (*StandardWebhooks, error) {
	if len(secrets) == 0 && len(publicKeys) == 0 {
		return nil, fieldError("", "a secret or a public key is required")
	}
	v := &StandardWebhooks{tolerance: orDefault(tolerance, StandardWebhooksDefaultTolerance)}
	decoded := make([]authz.Secret, len(secrets))
	for i, s := range secrets {
		b, err := DecodeStandardWebhooksSecret(s)
		if err != nil {
			return nil, badSecret(fmt.Sprintf("secrets[%d]", i), err)
		}
		decoded[i] = b
	}
	v.keys = newMACKeys(sha256.New, decoded)
	for i, s := range publicKeys {
		rest, _ := strings.CutPrefix(string(s), "whpk_")
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, badSecret(fmt.Sprintf("public_keys[%d]", i), fmt.Errorf("not whpk_ and base64 of %d bytes", ed25519.PublicKeySize))
		}
		v.publicKeys = append(v.publicKeys, ed25519.PublicKey(b))
	}
	return v, nil
}

// buildStandardWebhooks builds a Standard Webhooks verifier from its policy
// configuration, which needs secrets, public keys or both.
func buildStandardWebhooks(c *policyv1.StandardWebhooksVerify, env Env) (authz.Verifier, error) {
	if len(c.GetSecrets()) == 0 && len(c.GetPublicKeys()) == 0 {
		return nil, fieldError("", "set secrets (whsec_) or public_keys (whpk_)")
	}
	var secrets, publicKeys []authz.Secret
	var err1, err2 error
	if len(c.GetSecrets()) > 0 {
		secrets, err1 = env.Secrets("secrets", c.GetSecrets())
	}
	if len(c.GetPublicKeys()) > 0 {
		publicKeys, err2 = env.Secrets("public_keys", c.GetPublicKeys())
	}
	tolerance, err3 := parseTolerance(c.GetTolerance())
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	v, err := NewStandardWebhooks(secrets, publicKeys, tolerance)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeStandardWebhooksSecret returns the HMAC key of a "whsec_" secret:
// the base64 after the prefix, decoded.
func DecodeStandardWebhooksSecret(s authz.Secret) (authz.Secret, error) {
	rest, _ := strings.CutPrefix(string(s), "whsec_")
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(b) == 0 {
		return nil, errors.New("not whsec_ and base64")
	}
	return b, nil
}

// Scheme returns "standard_webhooks".
func (*StandardWebhooks) Scheme() string { return "standard_webhooks" }

// Tolerance returns how far from now webhook-timestamp may be.
func (s *StandardWebhooks) Tolerance() time.Duration { return s.tolerance }

// swSignatures is a parsed webhook-signature header: its v1 and v1a entries,
// still base64. Entries of other versions are not kept.
type swSignatures struct {
	v1  [maxSignatures]string
	v1a [maxSignatures]string
	n1  int
	n1a int
}

// parseStandardWebhooksSignatures splits a webhook-signature header. At most
// maxSignatures entries of any version are read.
func parseStandardWebhooksSignatures(h string) (*swSignatures, error) {
	if len(h) > maxSignatureHeader {
		return nil, errTooLong
	}
	p := &swSignatures{}
	entries := 0
	for rest := h; ; {
		var entry string
		if entry, rest = nextField(rest); entry == "" {
			break
		}
		entries++
		if entries > maxSignatures {
			return nil, errTooMany
		}
		version, sig, ok := strings.Cut(entry, ",")
		if !ok {
			continue
		}
		switch version {
		case "v1":
			p.v1[p.n1] = sig
			p.n1++
		case "v1a":
			p.v1a[p.n1a] = sig
			p.n1a++
		}
	}
	if p.n1+p.n1a == 0 {
		return nil, fmt.Errorf("%w: no v1 or v1a signature", authz.SignatureInvalid)
	}
	return p, nil
}

// Verify checks the signature list, the timestamp and the message id.
func (s *StandardWebhooks) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	idName, tsName, sigName := StandardWebhooksIDHeader, StandardWebhooksTimestampHeader, StandardWebhooksSignatureHeader
	if r.Header.Get(sigName) == "" && r.Header.Get(SvixSignatureHeader) != "" {
		idName, tsName, sigName = SvixIDHeader, SvixTimestampHeader, SvixSignatureHeader
	}
	h, err := signatureHeader(r, sigName)
	if err != nil {
		return v, err
	}
	id, err := headerToken(r, idName, maxIDLength)
	if err != nil {
		return v, err
	}
	v.DeliveryID = id
	ts, err := timestampHeader(r, tsName, now, s.tolerance)
	if err != nil {
		return v, err
	}
	p, err := parseStandardWebhooksSignatures(h)
	if err != nil {
		return v, err
	}
	if s.verifyV1(p, id, ts, r.Body) {
		v.ReplayKey = []byte(id)
		return v, nil
	}
	ok, checks, more := s.verifyV1a(p, id, ts, r.Body)
	switch {
	case ok:
		v.ReplayKey = []byte(id)
		return v, nil
	case more:
		return v, fmt.Errorf("%w: no key matches in %d Ed25519 checks, the most one request gets", authz.SignatureInvalid, checks)
	}
	return v, fmt.Errorf("%w: no key matches", authz.SignatureInvalid)
}

// verifyV1 checks the v1 signatures: each secret's MAC is computed once
// and compared with every signature.
func (s *StandardWebhooks) verifyV1(p *swSignatures, id, ts string, body []byte) bool {
	if p.n1 == 0 || len(s.keys) == 0 {
		return false
	}
	var l macList
	l.decode(p.v1[:p.n1], sha256.Size, encBase64)
	key, _ := l.match(s.keys, []byte(id), dot, []byte(ts), dot, body)
	return key != nil
}

// maxEd25519Checks is how many Ed25519 checks one request may cost at
// least; a verifier with more public keys allows one per key. A v1a
// signature names no key, so each may have to be checked under every key,
// and each check hashes the whole body: a stranger listing 16 signatures
// must not buy 16 checks per key. Three checks cover a key roll in any
// order of either list: two signatures and one configured key, or two
// configured keys and a first signature under one of them.
const maxEd25519Checks = 3

// ed25519Budget is how many Ed25519 checks a request may cost a verifier
// with keys public keys.
func ed25519Budget(keys int) int { return max(maxEd25519Checks, keys) }

// verifyV1a checks the v1a signatures, in header order, each under the
// public keys in policy order, until one verifies or the budget is spent.
// It reports whether one verified, how many checks it made, and whether
// pairs were left unchecked.
func (s *StandardWebhooks) verifyV1a(p *swSignatures, id, ts string, body []byte) (ok bool, checks int, more bool) {
	if p.n1a == 0 || len(s.publicKeys) == 0 {
		return false, 0, false
	}
	budget := ed25519Budget(len(s.publicKeys))
	var msg []byte
	var sig [ed25519.SignatureSize]byte
	for _, enc := range p.v1a[:p.n1a] {
		if !decodeStdBase64To(sig[:], enc) {
			continue
		}
		if msg == nil {
			msg = swMessage(id, ts, body)
		}
		for _, pk := range s.publicKeys {
			if checks == budget {
				return false, checks, true
			}
			checks++
			if verifyEd25519(pk, msg, sig[:]) {
				return true, checks, false
			}
		}
	}
	return false, checks, false
}

// swMessage is the signed content, in one buffer as Ed25519 needs.
func swMessage(id, ts string, body []byte) []byte {
	msg := make([]byte, 0, len(id)+len(ts)+2+len(body))
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = append(msg, ts...)
	msg = append(msg, '.')
	return append(msg, body...)
}

// signStandardWebhooks returns the headers a Standard Webhooks sender
// sends: v1 under a "whsec_" secret, v1a under a "whsk_" (or other Ed25519)
// private key.
func signStandardWebhooks(key authz.Secret, m Message) ([]authz.HeaderValue, error) {
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	var sig string
	if strings.HasPrefix(string(key), "whsec_") {
		secret, err := DecodeStandardWebhooksSecret(key)
		if err != nil {
			return nil, err
		}
		mac := newMACKey(sha256.New, secret).sum(nil, []byte(m.ID), dot, []byte(ts), dot, m.Body)
		sig = "v1," + base64.StdEncoding.EncodeToString(mac)
	} else {
		priv, err := parsePrivateKey(key)
		if err != nil {
			return nil, err
		}
		ed, ok := priv.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("v1a needs an Ed25519 key")
		}
		sig = "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(ed, swMessage(m.ID, ts, m.Body)))
	}
	return []authz.HeaderValue{
		{Name: "webhook-id", Value: m.ID},
		{Name: "webhook-timestamp", Value: ts},
		{Name: "webhook-signature", Value: sig},
	}, nil
}

// nextField returns the first space-separated field of s and what follows
// it, like strings.Fields one at a time without allocating a slice sized by
// the input.
func nextField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}
