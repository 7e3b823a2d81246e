package verify

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// Message is what a signer signs: the parts of a delivery that some scheme
// covers.
type Message struct {
	// Body is the raw body.
	Body []byte
	// Time is the delivery time, for schemes that sign a timestamp.
	Time time.Time
	// ID is the delivery id; a random one is made when empty.
	ID string
	// URL is the full URL the provider requests, for schemes that sign it
	// (Twilio, Square, HTTP message signatures).
	URL string
	// Method is the request method, for HTTP message signatures; default
	// POST.
	Method string
	// ContentType is the body's media type: Twilio signs the parameters of
	// an application/x-www-form-urlencoded body, and the digest of any
	// other.
	ContentType string
	// KeyID names the key, for HTTP message signatures.
	KeyID string
}

// withDefaults fills what a provider always sends: a random delivery id,
// the current time, POST.
func (m Message) withDefaults() Message {
	if m.ID == "" {
		m.ID = newUUID()
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	if m.Method == "" {
		m.Method = "POST"
	}
	return m
}

// Schemes lists the schemes Sign supports, sorted: the registered schemes
// with a signer.
func Schemes() []string {
	var names []string
	for _, s := range All() {
		if s.Sign != nil {
			names = append(names, s.Name)
		}
	}
	return names
}

// Sign returns the headers the scheme's provider would send with m, signed
// with key: the secret of an HMAC scheme, the private key of an asymmetric
// one (Discord, SendGrid, Standard Webhooks v1a, HTTP message signatures).
// An empty m.ID is a random delivery id, a zero m.Time the current time, an
// empty m.Method POST.
//
// The generic hmac scheme has no signer: its format lives in the policy.
// For Mailgun, whose signature travels in the body, the headers are empty
// and the body must carry the signature object; see SignMailgunBody.
func Sign(scheme string, key authz.Secret, m Message) ([]authz.HeaderValue, error) {
	sign := registry[scheme].Sign
	if sign == nil {
		return nil, fmt.Errorf("verify: cannot sign scheme %q (known: %v)", scheme, Schemes())
	}
	h, err := sign(key, m.withDefaults())
	if err != nil {
		return nil, fmt.Errorf("verify: sign %s: %w", scheme, err)
	}
	return h, nil
}

// newUUID returns a random (version 4) UUID, the form most providers use for
// delivery ids.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
