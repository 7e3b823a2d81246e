package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// Slack header names and default tolerance.
const (
	SlackSignatureHeader = "x-slack-signature"
	SlackTimestampHeader = "x-slack-request-timestamp"
	// SlackDefaultTolerance is the five minutes Slack documents.
	SlackDefaultTolerance = 5 * time.Minute
)

// Slack verifies Slack requests (Events API, slash commands, interactivity):
// X-Slack-Signature is "v0=" and the hex HMAC-SHA256 of
// "v0:<X-Slack-Request-Timestamp>:<body>" under the app's signing secret.
// Slack sends no delivery id; the replay key is the matching MAC, which
// covers the timestamp, so Slack's retries (new timestamp) verify as new.
type Slack struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewSlack returns a Slack verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means SlackDefaultTolerance).
func NewSlack(secrets []authz.Secret, tolerance time.Duration) *Slack {
	return &Slack{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, SlackDefaultTolerance)}
}

// Scheme returns "slack".
func (*Slack) Scheme() string { return "slack" }

// Verify checks the signature and the timestamp.
func (s *Slack) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	mac, err := verifyV0(s.keys, r, SlackSignatureHeader, SlackTimestampHeader, now, s.tolerance)
	if err != nil {
		return v, err
	}
	v.ReplayKey = mac
	return v, nil
}

// verifyV0 checks the "v0" scheme Slack and Zoom share: sigHeader is "v0="
// and the hex HMAC-SHA256 of "v0:<ts>:<body>", ts the Unix time in
// tsHeader. It returns the matching MAC.
func verifyV0(keys []*macKey, r *authz.Request, sigHeader, tsHeader string, now time.Time, tolerance time.Duration) ([]byte, error) {
	mac, _, err := verifyV0Key(keys, r, sigHeader, tsHeader, now, tolerance)
	return mac, err
}

// verifyV0Key is verifyV0 that also returns the index of the matching key.
func verifyV0Key(keys []*macKey, r *authz.Request, sigHeader, tsHeader string, now time.Time, tolerance time.Duration) ([]byte, int, error) {
	sig, err := signatureHeader(r, sigHeader)
	if err != nil {
		return nil, -1, err
	}
	// The timestamp comes before the signature: a stale request is
	// refused as such, whatever its signature.
	ts, err := timestampHeader(r, tsHeader, now, tolerance)
	if err != nil {
		return nil, -1, err
	}
	var want [sha256.Size]byte
	if err := decodePrefixedHex(want[:], sig, "v0="); err != nil {
		return nil, -1, err
	}
	mac, i := matchAnyMAC(keys, [][]byte{want[:]}, v0Prefix, []byte(ts), colon, r.Body)
	if mac == nil {
		return nil, -1, errNoSecretMatches
	}
	return mac, i, nil
}

var v0Prefix = []byte("v0:")

// signV0 returns the v0 signature and timestamp header values.
func signV0(secret authz.Secret, m Message) (sig, ts string) {
	ts = strconv.FormatInt(m.Time.Unix(), 10)
	mac := newMACKey(sha256.New, secret).sum(nil, v0Prefix, []byte(ts), colon, m.Body)
	return "v0=" + hex.EncodeToString(mac), ts
}

// signSlack returns the headers Slack sends.
func signSlack(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	sig, ts := signV0(secret, m)
	return []authz.HeaderValue{
		{Name: "X-Slack-Signature", Value: sig},
		{Name: "X-Slack-Request-Timestamp", Value: ts},
	}, nil
}
