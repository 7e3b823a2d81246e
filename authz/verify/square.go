package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildSquare, Scheme{Sign: signSquare, Replayable: true})
}

// SquareSignatureHeader is the header Square signs deliveries in.
const SquareSignatureHeader = "x-square-hmacsha256-signature"

// Square verifies Square webhooks: x-square-hmacsha256-signature is the
// base64 HMAC-SHA256 of the notification URL, exactly as configured in the
// subscription, followed by the body, under the subscription's signature
// key. The URL is configuration, not taken from the request: Square signs
// what it was told, whatever proxies in between rewrite. Square signs no
// timestamp; the body carries event_id and created_at, so the replay key,
// the [ContentKey] of URL and body, tells deliveries apart.
type Square struct {
	keys []*macKey
	url  []byte
}

// NewSquare returns a Square verifier for notificationURL accepting any of
// secrets.
func NewSquare(secrets []authz.Secret, notificationURL string) (*Square, error) {
	if notificationURL == "" {
		return nil, fieldError("notification_url", "required")
	}
	return &Square{keys: newMACKeys(sha256.New, secrets), url: []byte(notificationURL)}, nil
}

// buildSquare builds a Square verifier from its policy configuration.
func buildSquare(c *policyv1.SquareVerify, env Env) (authz.Verifier, error) {
	var errURL error
	u := c.GetNotificationUrl()
	if p, err := url.Parse(u); u == "" || err != nil || p.Scheme == "" || p.Host == "" {
		errURL = fieldError("notification_url", "required: the absolute URL configured in Square")
	}
	secrets, err := env.Secrets("secrets", c.GetSecrets())
	if err := errors.Join(errURL, err); err != nil {
		return nil, err
	}
	v, err := NewSquare(secrets, u)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Scheme returns "square".
func (*Square) Scheme() string { return "square" }

// Verify checks the signature over the notification URL and the body.
func (s *Square) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	var v authz.Verified
	sig, err := signatureHeader(r, SquareSignatureHeader)
	if err != nil {
		return v, err
	}
	var want [sha256.Size]byte
	if !decodeStdBase64To(want[:], sig) {
		return v, fmt.Errorf("%w: not base64 of %d bytes", authz.SignatureInvalid, sha256.Size)
	}
	key := matchMAC(s.keys, want[:], s.url, r.Body)
	if key == nil {
		return v, errNoSecretMatches
	}
	v.ReplayKey = key
	return v, nil
}

// signSquare returns the header Square sends; m.URL is the notification URL.
func signSquare(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	if m.URL == "" {
		return nil, errors.New("square signs the notification URL: give it")
	}
	mac := newMACKey(sha256.New, secret).sum(nil, []byte(m.URL), m.Body)
	return []authz.HeaderValue{
		{Name: "X-Square-Hmacsha256-Signature", Value: base64.StdEncoding.EncodeToString(mac)},
	}, nil
}
