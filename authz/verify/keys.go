package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/hookguard/hookguard/authz"
)

// Key parsing, done once when a policy is compiled. Errors say what is wrong
// with the key's form, never what the key holds.

// parsePublicKeys parses the public keys of an asymmetric scheme with
// parse. At least one is required; a key that does not parse fails with a
// *FieldError naming it as public_keys[i], matching ErrSecretValue, and
// never quoting it.
func parsePublicKeys[K any](keys []authz.Secret, parse func(authz.Secret) (K, error)) ([]K, error) {
	if len(keys) == 0 {
		return nil, fieldError("public_keys", "a public key is required")
	}
	out := make([]K, 0, len(keys))
	for i, s := range keys {
		k, err := parse(s)
		if err != nil {
			return nil, badSecret(fmt.Sprintf("public_keys[%d]", i), err)
		}
		out = append(out, k)
	}
	return out, nil
}

// ParseEd25519PublicKey reads an Ed25519 public key given as PEM
// (SubjectPublicKeyInfo), as hex or base64 of the 32 raw bytes (Discord
// shows hex), or as base64 DER SubjectPublicKeyInfo.
func ParseEd25519PublicKey(s authz.Secret) (ed25519.PublicKey, error) {
	text := strings.TrimSpace(string(s))
	if b, ok := pemBlock(text, "PUBLIC KEY"); ok {
		return ed25519FromSPKI(b)
	}
	if len(text) == hex.EncodedLen(ed25519.PublicKeySize) {
		if b, err := hex.DecodeString(text); err == nil {
			return ed25519.PublicKey(b), nil
		}
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, errors.New("not PEM, hex or base64")
	}
	if len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	return ed25519FromSPKI(b)
}

func ed25519FromSPKI(der []byte) (ed25519.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a SubjectPublicKeyInfo")
	}
	pk, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return pk, nil
}

// ParseP256PublicKey reads an ECDSA P-256 public key given as PEM or as
// base64 DER SubjectPublicKeyInfo (the form SendGrid shows).
func ParseP256PublicKey(s authz.Secret) (*ecdsa.PublicKey, error) {
	text := strings.TrimSpace(string(s))
	der, ok := pemBlock(text, "PUBLIC KEY")
	if !ok {
		var err error
		if der, err = base64.StdEncoding.DecodeString(text); err != nil {
			return nil, errors.New("not PEM or base64")
		}
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a SubjectPublicKeyInfo")
	}
	pk, ok := k.(*ecdsa.PublicKey)
	if !ok || pk.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return pk, nil
}

// parsePrivateKey reads a signer's private key: PEM (PKCS #8, or SEC 1 "EC
// PRIVATE KEY"), base64 DER PKCS #8, Standard Webhooks' "whsk_" + base64, or
// hex of an Ed25519 seed (32 bytes) or private key (64 bytes).
func parsePrivateKey(s authz.Secret) (crypto.Signer, error) {
	text := strings.TrimSpace(string(s))
	if rest, ok := strings.CutPrefix(text, "whsk_"); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(b) != ed25519.PrivateKeySize {
			return nil, errors.New("whsk_ key is not base64 of 64 bytes")
		}
		return ed25519.PrivateKey(b), nil
	}
	if b, ok := pemBlock(text, "EC PRIVATE KEY"); ok {
		k, err := x509.ParseECPrivateKey(b)
		if err != nil {
			return nil, errors.New("not a SEC 1 EC private key")
		}
		return k, nil
	}
	der, ok := pemBlock(text, "PRIVATE KEY")
	if !ok {
		if b, err := hex.DecodeString(text); err == nil {
			switch len(b) {
			case ed25519.SeedSize:
				return ed25519.NewKeyFromSeed(b), nil
			case ed25519.PrivateKeySize:
				return ed25519.PrivateKey(b), nil
			}
		}
		var err error
		if der, err = base64.StdEncoding.DecodeString(text); err != nil {
			return nil, errors.New("not a private key (PEM, base64 PKCS #8, whsk_ or hex Ed25519)")
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS #8 private key")
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("unsupported private key type")
	}
	return signer, nil
}

// pemBlock returns the DER of the PEM block of the given type in text.
func pemBlock(text, typ string) ([]byte, bool) {
	if !strings.HasPrefix(text, "-----BEGIN ") {
		return nil, false
	}
	b, _ := pem.Decode([]byte(text))
	if b == nil || b.Type != typ {
		return nil, false
	}
	return b.Bytes, true
}
