package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildZoom, Scheme{Sign: signZoom, Replayable: true, Timestamped: true, Handshakes: true})
}

// Zoom header names and default tolerance.
const (
	ZoomSignatureHeader = "x-zm-signature"
	ZoomTimestampHeader = "x-zm-request-timestamp"
	// ZoomDefaultTolerance: Zoom documents none; five minutes, as Slack's
	// identical scheme, leaves room for clock skew and queueing.
	ZoomDefaultTolerance = 5 * time.Minute
)

// Zoom verifies Zoom webhooks: x-zm-signature is "v0=" and the hex
// HMAC-SHA256 of "v0:<x-zm-request-timestamp>:<body>" under the app's
// secret token. The replay key is the [ContentKey] of the signed content,
// which holds the timestamp.
//
// Zoom validates an endpoint URL before using it, and again every 72 hours,
// with an endpoint.url_validation event, which hookguard answers itself
// (see Handshake) so the upstream needs no Zoom-specific code.
type Zoom struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewZoom returns a Zoom verifier accepting any of secrets, with timestamps
// at most tolerance away (zero means ZoomDefaultTolerance).
func NewZoom(secrets []authz.Secret, tolerance time.Duration) *Zoom {
	return &Zoom{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, ZoomDefaultTolerance)}
}

// buildZoom builds a Zoom verifier from its policy configuration.
func buildZoom(c *policyv1.ZoomVerify, env Env) (authz.Verifier, error) {
	secrets, tolerance, err := secretsAndTolerance(env, c)
	if err != nil {
		return nil, err
	}
	return NewZoom(secrets, tolerance), nil
}

// Scheme returns "zoom".
func (*Zoom) Scheme() string { return "zoom" }

// Tolerance returns how far from now x-zm-request-timestamp may be.
func (z *Zoom) Tolerance() time.Duration { return z.tolerance }

// Verify checks the signature and the timestamp.
func (z *Zoom) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	v, _, err := verifyV0(z.keys, r, ZoomSignatureHeader, ZoomTimestampHeader, now, z.tolerance)
	return v, err
}

// maxHandshakeToken bounds the tokens and challenges a handshake echoes.
const maxHandshakeToken = 256

// maxHandshakeBody is the largest body taken for a handshake that is
// decoded before its signature is checked; real ones are a few hundred
// bytes.
const maxHandshakeBody = 16 << 10

// zoomValidation is the body of an endpoint.url_validation event.
type zoomValidation struct {
	Event   string `json:"event"`
	Payload struct {
		PlainToken string `json:"plainToken"`
	} `json:"payload"`
}

// zoomValidationEvent is the event name of Zoom's URL validation.
var zoomValidationEvent = []byte(`"endpoint.url_validation"`)

// Handshake answers endpoint.url_validation with the plainToken and its
// hex HMAC-SHA256 under the secret token, after the request's own
// signature verifies with that same secret. Other requests return nil.
func (z *Zoom) Handshake(r *authz.Request, now time.Time) (*authz.Response, error) {
	// Only a small body naming the event is decoded, so ordinary
	// deliveries cost a substring search and a stranger cannot make
	// hookguard parse megabytes of JSON before the signature is checked.
	if len(r.Body) > maxHandshakeBody || !bytes.Contains(r.Body, zoomValidationEvent) {
		return nil, nil
	}
	var ev zoomValidation
	meter.json(len(r.Body))
	if json.Unmarshal(r.Body, &ev) != nil || ev.Event != "endpoint.url_validation" {
		return nil, nil
	}
	_, key, err := verifyV0(z.keys, r, ZoomSignatureHeader, ZoomTimestampHeader, now, z.tolerance)
	if err != nil {
		return nil, err
	}
	if ev.Payload.PlainToken == "" || len(ev.Payload.PlainToken) > maxHandshakeToken {
		return nil, fmt.Errorf("%w: url_validation without a usable plainToken", authz.SignatureInvalid)
	}
	mac := z.keys[key].sum(nil, []byte(ev.Payload.PlainToken))
	body, err := json.Marshal(struct {
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	}{ev.Payload.PlainToken, hex.EncodeToString(mac)})
	if err != nil {
		return nil, err
	}
	return &authz.Response{ContentType: "application/json", Body: body}, nil
}

// signZoom returns the headers Zoom sends.
func signZoom(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	sig, ts := signV0(secret, m)
	return []authz.HeaderValue{
		{Name: "x-zm-signature", Value: sig},
		{Name: "x-zm-request-timestamp", Value: ts},
	}, nil
}
