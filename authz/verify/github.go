package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildGitHub, Scheme{Sign: signGitHub, Replayable: true})
}

// GitHub header names.
const (
	GitHubSignatureHeader = "x-hub-signature-256"
	GitHubDeliveryHeader  = "x-github-delivery"
)

// GitHub verifies GitHub webhooks: X-Hub-Signature-256 is "sha256=" and the
// lower-case hex HMAC-SHA256 of the raw body. The delivery id is
// X-GitHub-Delivery; GitHub does not sign it, so the replay key is the
// [ContentKey] of the body.
type GitHub struct {
	keys []*macKey
}

// NewGitHub returns a GitHub verifier accepting any of secrets.
func NewGitHub(secrets []authz.Secret) *GitHub {
	return &GitHub{keys: newMACKeys(sha256.New, secrets)}
}

// buildGitHub builds a GitHub verifier from its policy configuration.
func buildGitHub(c *policyv1.GitHubVerify, env Env) (authz.Verifier, error) {
	secrets, err := env.Secrets("secrets", c.GetSecrets())
	if err != nil {
		return nil, err
	}
	return NewGitHub(secrets), nil
}

// Scheme returns "github".
func (*GitHub) Scheme() string { return "github" }

// Verify checks the X-Hub-Signature-256 header against the body.
func (g *GitHub) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	v := authz.Verified{DeliveryID: deliveryID(r, GitHubDeliveryHeader)}
	sig := r.Header.Get(GitHubSignatureHeader)
	if sig == "" {
		return v, authz.SignatureMissing
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return v, fmt.Errorf("%w: no sha256= prefix", authz.SignatureInvalid)
	}
	var want [sha256.Size]byte
	if len(hexSig) != hex.EncodedLen(len(want)) {
		return v, fmt.Errorf("%w: not %d hex digits", authz.SignatureInvalid, hex.EncodedLen(len(want)))
	}
	if _, err := hex.Decode(want[:], []byte(hexSig)); err != nil {
		return v, fmt.Errorf("%w: not hex", authz.SignatureInvalid)
	}
	key := matchMAC(g.keys, want[:], r.Body)
	if key == nil {
		return v, errNoSecretMatches
	}
	v.ReplayKey = key
	return v, nil
}

// signGitHub returns the headers GitHub sends.
func signGitHub(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	mac := newMACKey(sha256.New, secret).sum(nil, m.Body)
	return []authz.HeaderValue{
		{Name: "X-Hub-Signature-256", Value: "sha256=" + hex.EncodeToString(mac)},
		{Name: "X-GitHub-Delivery", Value: m.ID},
	}, nil
}
