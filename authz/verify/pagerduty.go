package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// PagerDuty header names.
const (
	PagerDutySignatureHeader = "x-pagerduty-signature"
	PagerDutyWebhookIDHeader = "x-webhook-id"
)

// PagerDuty verifies PagerDuty v3 webhooks: X-PagerDuty-Signature lists
// comma-separated "v1=<hex HMAC-SHA256 of the body>", one per secret of the
// subscription while it rotates; other versions are skipped. PagerDuty
// signs no timestamp; the replay key is the matching MAC.
type PagerDuty struct {
	keys []*macKey
}

// NewPagerDuty returns a PagerDuty verifier accepting any of secrets.
func NewPagerDuty(secrets []authz.Secret) *PagerDuty {
	return &PagerDuty{keys: newMACKeys(sha256.New, secrets)}
}

// Scheme returns "pagerduty".
func (*PagerDuty) Scheme() string { return "pagerduty" }

// pdSignatures is a parsed X-PagerDuty-Signature: its v1 entries, still hex.
type pdSignatures struct {
	v1 [maxSignatures]string
	n  int
}

// parsePagerDutySignatures splits X-PagerDuty-Signature, reading at most
// maxSignatures entries of any version.
func parsePagerDutySignatures(h string) (*pdSignatures, error) {
	if len(h) > maxSignatureHeader {
		return nil, errTooLong
	}
	p := &pdSignatures{}
	entries := 0
	for rest := h; rest != ""; {
		var entry string
		entry, rest, _ = strings.Cut(rest, ",")
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		entries++
		if entries > maxSignatures {
			return nil, errTooMany
		}
		if sig, ok := strings.CutPrefix(entry, "v1="); ok {
			p.v1[p.n] = sig
			p.n++
		}
	}
	if p.n == 0 {
		return nil, fmt.Errorf("%w: no v1 signature", authz.SignatureInvalid)
	}
	return p, nil
}

// Verify checks X-PagerDuty-Signature against the body.
func (p *PagerDuty) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	v := authz.Verified{DeliveryID: r.Header.Get(PagerDutyWebhookIDHeader)}
	if len(v.DeliveryID) > maxIDLength {
		v.DeliveryID = ""
	}
	h, err := signatureHeader(r, PagerDutySignatureHeader)
	if err != nil {
		return v, err
	}
	sigs, err := parsePagerDutySignatures(h)
	if err != nil {
		return v, err
	}
	var buf [maxSignatures][sha256.Size]byte
	var wants [maxSignatures][]byte
	n := 0
	for _, sig := range sigs.v1[:sigs.n] {
		if decodeHexTo(buf[n][:], sig) {
			wants[n] = buf[n][:]
			n++
		}
	}
	mac, _ := matchAnyMAC(p.keys, wants[:n], r.Body)
	if mac == nil {
		return v, fmt.Errorf("%w: no secret matches", authz.SignatureInvalid)
	}
	v.ReplayKey = mac
	return v, nil
}

// signPagerDuty returns the headers PagerDuty sends.
func signPagerDuty(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	mac := newMACKey(sha256.New, secret).sum(nil, m.Body)
	return []authz.HeaderValue{
		{Name: "X-PagerDuty-Signature", Value: "v1=" + hex.EncodeToString(mac)},
		{Name: "X-Webhook-Id", Value: m.ID},
	}, nil
}
