package verify

import (
	"crypto/sha256"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildSlack, Scheme{Sign: signSlack, Replayable: true, Timestamped: true})
}

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
// Slack sends no delivery id; the replay key is the [ContentKey] of the
// signed content, which holds the timestamp, so Slack's retries (new
// timestamp) verify as new.
type Slack struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewSlack returns a Slack verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means SlackDefaultTolerance).
func NewSlack(secrets []authz.Secret, tolerance time.Duration) *Slack {
	return &Slack{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, SlackDefaultTolerance)}
}

// buildSlack builds a Slack verifier from its policy configuration.
func buildSlack(c *policyv1.SlackVerify, env Env) (authz.Verifier, error) {
	secrets, tolerance, err := secretsAndTolerance(env, c)
	if err != nil {
		return nil, err
	}
	return NewSlack(secrets, tolerance), nil
}

// Scheme returns "slack".
func (*Slack) Scheme() string { return "slack" }

// Tolerance returns how far from now X-Slack-Request-Timestamp may be.
func (s *Slack) Tolerance() time.Duration { return s.tolerance }

// Verify checks the signature and the timestamp.
func (s *Slack) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	v, _, err := verifyV0(s.keys, r, SlackSignatureHeader, SlackTimestampHeader, now, s.tolerance)
	return v, err
}

// signSlack returns the headers Slack sends.
func signSlack(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	sig, ts := signV0(secret, m)
	return []authz.HeaderValue{
		{Name: "X-Slack-Signature", Value: sig},
		{Name: "X-Slack-Request-Timestamp", Value: ts},
	}, nil
}
