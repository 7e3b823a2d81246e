package verify

import (
	"crypto/rand"
	"fmt"
	"slices"
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
}

// signers produce the headers a provider sends, so people and policy tests
// can make valid deliveries. One per scheme, beside its verifier.
var signers = map[string]func(secret authz.Secret, m Message) []authz.HeaderValue{
	"github": signGitHub,
	"token":  signToken,
}

// Schemes lists the schemes Sign supports.
func Schemes() []string {
	names := make([]string, 0, len(signers))
	for n := range signers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Sign returns the headers the scheme's provider would send with m, signed
// with secret.
func Sign(scheme string, secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	sign, ok := signers[scheme]
	if !ok {
		return nil, fmt.Errorf("verify: cannot sign scheme %q (known: %v)", scheme, Schemes())
	}
	if m.ID == "" {
		m.ID = newUUID()
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	return sign(secret, m), nil
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
