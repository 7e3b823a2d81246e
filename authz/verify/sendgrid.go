package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildSendGrid, Scheme{Sign: signSendGrid, Replayable: true, Timestamped: true})
}

// SendGrid header names and default tolerance.
const (
	SendGridSignatureHeader = "x-twilio-email-event-webhook-signature"
	SendGridTimestampHeader = "x-twilio-email-event-webhook-timestamp"
	// SendGridDefaultTolerance: SendGrid documents none and its helper
	// checks none; five minutes bounds how long a captured batch stays
	// usable.
	SendGridDefaultTolerance = 5 * time.Minute
)

// maxDERSignature bounds the base64 of an ECDSA P-256 DER signature (at
// most 72 bytes, 96 characters) with room for sloppy encoders.
const maxDERSignature = 128

// SendGrid verifies SendGrid's signed Event Webhook: the signature header is
// the base64 ASN.1 DER ECDSA P-256 signature of SHA-256 over the timestamp
// header followed by the body, under the verification key SendGrid shows.
//
// ECDSA signatures are malleable: (r, s) and (r, n-s) both verify. The
// replay key is therefore r and the low one of s and n-s, so the other
// spelling of a captured signature is recognised as the same delivery.
type SendGrid struct {
	publicKeys []*ecdsa.PublicKey
	tolerance  time.Duration
}

// NewSendGrid returns a SendGrid verifier accepting signatures under any of
// publicKeys (base64 DER or PEM), with timestamps at most tolerance away
// (zero means SendGridDefaultTolerance).
func NewSendGrid(publicKeys []authz.Secret, tolerance time.Duration) (*SendGrid, error) {
	keys, err := parsePublicKeys(publicKeys, ParseP256PublicKey)
	if err != nil {
		return nil, err
	}
	return &SendGrid{publicKeys: keys, tolerance: orDefault(tolerance, SendGridDefaultTolerance)}, nil
}

// buildSendGrid builds a SendGrid verifier from its policy configuration.
func buildSendGrid(c *policyv1.SendGridVerify, env Env) (authz.Verifier, error) {
	keys, err1 := env.Secrets("public_keys", c.GetPublicKeys())
	tolerance, err2 := parseTolerance(c.GetTolerance())
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	v, err := NewSendGrid(keys, tolerance)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Scheme returns "sendgrid".
func (*SendGrid) Scheme() string { return "sendgrid" }

// Tolerance returns how far from now the timestamp header may be.
func (s *SendGrid) Tolerance() time.Duration { return s.tolerance }

// Verify checks the signature and the timestamp.
func (s *SendGrid) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	h, err := signatureHeader(r, SendGridSignatureHeader)
	if err != nil {
		return v, err
	}
	ts, err := timestampHeader(r, SendGridTimestampHeader, now, s.tolerance)
	if err != nil {
		return v, err
	}
	if len(h) > maxDERSignature {
		return v, fmt.Errorf("%w: longer than an ECDSA P-256 signature", authz.SignatureInvalid)
	}
	der, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return v, fmt.Errorf("%w: not base64", authz.SignatureInvalid)
	}
	key, ok := canonicalECDSA(der)
	if !ok {
		return v, fmt.Errorf("%w: not an ASN.1 ECDSA signature", authz.SignatureInvalid)
	}
	// The body is hashed once; each key costs one check of the digest.
	digest := sha256.New()
	digest.Write([]byte(ts))
	digest.Write(r.Body)
	meter.hash(hashSHA256, len(ts)+len(r.Body))
	sum := digest.Sum(nil)
	for _, pk := range s.publicKeys {
		if verifyECDSAASN1(pk, sum, der) {
			v.ReplayKey = key
			return v, nil
		}
	}
	return v, fmt.Errorf("%w: no key matches", authz.SignatureInvalid)
}

// p256HalfOrder is n/2 for P-256: an s above it is the high spelling.
var p256HalfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// canonicalECDSA parses a DER ECDSA P-256 signature and returns r and
// low-s, 32 bytes each: the same bytes for both spellings of a signature.
func canonicalECDSA(der []byte) ([]byte, bool) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 {
		return nil, false
	}
	return lowS(sig.R, sig.S)
}

// lowS returns r‖min(s, n-s) in 64 bytes, or false when r or s is out of
// range.
func lowS(r, s *big.Int) ([]byte, bool) {
	n := elliptic.P256().Params().N
	if r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return nil, false
	}
	if s.Cmp(p256HalfOrder) > 0 {
		s = new(big.Int).Sub(n, s)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, true
}

// signSendGrid returns the headers SendGrid sends; key is the ECDSA P-256
// private key.
func signSendGrid(key authz.Secret, m Message) ([]authz.HeaderValue, error) {
	priv, err := parsePrivateKey(key)
	if err != nil {
		return nil, err
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("sendgrid needs an ECDSA P-256 key")
	}
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	sum := sha256.Sum256(append([]byte(ts), m.Body...))
	sig, err := ecdsa.SignASN1(rand.Reader, ec, sum[:])
	if err != nil {
		return nil, err
	}
	return []authz.HeaderValue{
		{Name: "X-Twilio-Email-Event-Webhook-Signature", Value: base64.StdEncoding.EncodeToString(sig)},
		{Name: "X-Twilio-Email-Event-Webhook-Timestamp", Value: ts},
	}, nil
}
