package verify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildDiscord, Scheme{Sign: signDiscord, Replayable: true, Timestamped: true, Handshakes: true})
}

// Discord header names and default tolerance.
const (
	DiscordSignatureHeader = "x-signature-ed25519"
	DiscordTimestampHeader = "x-signature-timestamp"
	// DiscordDefaultTolerance: Discord documents none and its libraries
	// check none; interactions are answered within seconds, so five
	// minutes is generous.
	DiscordDefaultTolerance = 5 * time.Minute
)

// Discord verifies Discord interactions: X-Signature-Ed25519 is the hex
// Ed25519 signature of X-Signature-Timestamp followed by the body, under
// the application's public key. The replay key is the signature: Go's
// Ed25519 accepts only the canonical encoding, so an attacker cannot spell
// the same signature another way.
//
// Discord checks an interactions endpoint with a PING (type 1), which
// hookguard answers itself (see Handshake).
type Discord struct {
	publicKeys []ed25519.PublicKey
	tolerance  time.Duration
}

// NewDiscord returns a Discord verifier accepting signatures under any of
// publicKeys (hex, as the developer portal shows them, or PEM), with
// timestamps at most tolerance away (zero means DiscordDefaultTolerance).
func NewDiscord(publicKeys []authz.Secret, tolerance time.Duration) (*Discord, error) {
	keys, err := parsePublicKeys(publicKeys, ParseEd25519PublicKey)
	if err != nil {
		return nil, err
	}
	return &Discord{publicKeys: keys, tolerance: orDefault(tolerance, DiscordDefaultTolerance)}, nil
}

// buildDiscord builds a Discord verifier from its policy configuration.
func buildDiscord(c *policyv1.DiscordVerify, env Env) (authz.Verifier, error) {
	keys, err1 := env.Secrets("public_keys", c.GetPublicKeys())
	tolerance, err2 := parseTolerance(c.GetTolerance())
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	v, err := NewDiscord(keys, tolerance)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Scheme returns "discord".
func (*Discord) Scheme() string { return "discord" }

// Tolerance returns how far from now X-Signature-Timestamp may be.
func (d *Discord) Tolerance() time.Duration { return d.tolerance }

// Verify checks the signature and the timestamp.
func (d *Discord) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	sig, err := d.verify(r, now)
	if err != nil {
		return v, err
	}
	v.ReplayKey = sig
	return v, nil
}

func (d *Discord) verify(r *authz.Request, now time.Time) ([]byte, error) {
	h, err := signatureHeader(r, DiscordSignatureHeader)
	if err != nil {
		return nil, err
	}
	ts, err := timestampHeader(r, DiscordTimestampHeader, now, d.tolerance)
	if err != nil {
		return nil, err
	}
	sig := make([]byte, ed25519.SignatureSize)
	if !decodeHexTo(sig, h) {
		return nil, fmt.Errorf("%w: not %d hex digits", authz.SignatureInvalid, 2*ed25519.SignatureSize)
	}
	msg := make([]byte, 0, len(ts)+len(r.Body))
	msg = append(append(msg, ts...), r.Body...)
	// One check per key: the header carries one signature.
	for _, pk := range d.publicKeys {
		if verifyEd25519(pk, msg, sig) {
			return sig, nil
		}
	}
	return nil, fmt.Errorf("%w: no key matches", authz.SignatureInvalid)
}

// discordPong is the answer to a PING.
var discordPong = []byte(`{"type":1}`)

// Handshake answers a PING interaction (type 1) with a PONG, once its
// signature verifies; Discord also sends PINGs with bad signatures and
// expects them refused. Other interactions return nil.
func (d *Discord) Handshake(r *authz.Request, now time.Time) (*authz.Response, error) {
	// Only a small body can be a PING, and only a PING is decoded before
	// its signature is checked, so a stranger cannot make hookguard parse
	// megabytes of JSON.
	if len(r.Body) > maxHandshakeBody || !bytes.Contains(r.Body, []byte(`"type"`)) {
		return nil, nil
	}
	var in struct {
		Type int `json:"type"`
	}
	meter.json(len(r.Body))
	if json.Unmarshal(r.Body, &in) != nil || in.Type != 1 {
		return nil, nil
	}
	if _, err := d.verify(r, now); err != nil {
		return nil, err
	}
	return &authz.Response{ContentType: "application/json", Body: discordPong}, nil
}

// signDiscord returns the headers Discord sends; key is the Ed25519 private
// key.
func signDiscord(key authz.Secret, m Message) ([]authz.HeaderValue, error) {
	priv, err := parsePrivateKey(key)
	if err != nil {
		return nil, err
	}
	ed, ok := priv.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("discord needs an Ed25519 key")
	}
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	sig := ed25519.Sign(ed, append([]byte(ts), m.Body...))
	return []authz.HeaderValue{
		{Name: "X-Signature-Ed25519", Value: hex.EncodeToString(sig)},
		{Name: "X-Signature-Timestamp", Value: ts},
	}, nil
}
