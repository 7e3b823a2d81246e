package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildTwitch, Scheme{Sign: signTwitch, Replayable: true, Timestamped: true, Handshakes: true})
}

// Twitch EventSub header names and default tolerance.
const (
	TwitchIDHeader        = "twitch-eventsub-message-id"
	TwitchTimestampHeader = "twitch-eventsub-message-timestamp"
	TwitchSignatureHeader = "twitch-eventsub-message-signature"
	TwitchTypeHeader      = "twitch-eventsub-message-type"
	// TwitchDefaultTolerance is the ten minutes Twitch documents.
	TwitchDefaultTolerance = 10 * time.Minute
)

// Twitch verifies Twitch EventSub webhooks: the signature header is
// "sha256=" and the hex HMAC-SHA256 of message id, timestamp (RFC 3339, as
// sent) and body, concatenated. The message id is signed and Twitch keeps it
// across retries, so it is the delivery id and the replay key, as Twitch
// asks receivers to deduplicate on it.
//
// Twitch confirms a subscription with a webhook_callback_verification
// message, which hookguard answers itself (see Handshake).
type Twitch struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewTwitch returns a Twitch verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means TwitchDefaultTolerance).
func NewTwitch(secrets []authz.Secret, tolerance time.Duration) *Twitch {
	return &Twitch{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, TwitchDefaultTolerance)}
}

// buildTwitch builds a Twitch verifier from its policy configuration.
func buildTwitch(c *policyv1.TwitchVerify, env Env) (authz.Verifier, error) {
	secrets, tolerance, err := secretsAndTolerance(env, c)
	if err != nil {
		return nil, err
	}
	return NewTwitch(secrets, tolerance), nil
}

// Scheme returns "twitch".
func (*Twitch) Scheme() string { return "twitch" }

// Tolerance returns how far from now the message timestamp may be.
func (t *Twitch) Tolerance() time.Duration { return t.tolerance }

// Verify checks the signature, the timestamp and the message id.
func (t *Twitch) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	id, err := t.verify(r, now)
	v.DeliveryID = id
	if err != nil {
		return v, err
	}
	v.ReplayKey = []byte(id)
	return v, nil
}

func (t *Twitch) verify(r *authz.Request, now time.Time) (id string, err error) {
	sig, err := signatureHeader(r, TwitchSignatureHeader)
	if err != nil {
		return "", err
	}
	if id, err = headerToken(r, TwitchIDHeader, maxIDLength); err != nil {
		return "", err
	}
	tsText, err := headerToken(r, TwitchTimestampHeader, maxTimestampHeader)
	if err != nil {
		return id, err
	}
	ts, err := time.Parse(time.RFC3339Nano, tsText)
	if err != nil {
		return id, fmt.Errorf("%w: timestamp is not RFC 3339", authz.SignatureInvalid)
	}
	if err := checkWindow(ts, now, t.tolerance); err != nil {
		return id, err
	}
	var want [sha256.Size]byte
	if err := decodePrefixedHex(want[:], sig, "sha256="); err != nil {
		return id, err
	}
	if matchMAC(t.keys, want[:], []byte(id), []byte(tsText), r.Body) == nil {
		return id, errNoSecretMatches
	}
	return id, nil
}

// Handshake answers webhook_callback_verification: once the message
// verifies, the body's challenge goes back as text/plain, which confirms
// the subscription. Other message types return nil.
func (t *Twitch) Handshake(r *authz.Request, now time.Time) (*authz.Response, error) {
	if r.Header.Get(TwitchTypeHeader) != "webhook_callback_verification" {
		return nil, nil
	}
	if _, err := t.verify(r, now); err != nil {
		return nil, err
	}
	var body struct {
		Challenge string `json:"challenge"`
	}
	meter.json(len(r.Body))
	if json.Unmarshal(r.Body, &body) != nil || body.Challenge == "" || len(body.Challenge) > maxHandshakeToken {
		return nil, fmt.Errorf("%w: verification without a usable challenge", authz.SignatureInvalid)
	}
	return &authz.Response{ContentType: "text/plain", Body: []byte(body.Challenge)}, nil
}

// signTwitch returns the headers Twitch sends for a notification.
func signTwitch(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	ts := m.Time.UTC().Format(time.RFC3339Nano)
	mac := newMACKey(sha256.New, secret).sum(nil, []byte(m.ID), []byte(ts), m.Body)
	return []authz.HeaderValue{
		{Name: "Twitch-Eventsub-Message-Id", Value: m.ID},
		{Name: "Twitch-Eventsub-Message-Timestamp", Value: ts},
		{Name: "Twitch-Eventsub-Message-Signature", Value: "sha256=" + hex.EncodeToString(mac)},
		{Name: "Twitch-Eventsub-Message-Type", Value: "notification"},
	}, nil
}
