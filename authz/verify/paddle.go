package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// Paddle header name and default tolerance.
const (
	PaddleSignatureHeader = "paddle-signature"
	// PaddleDefaultTolerance is the five seconds of Paddle's SDKs: Paddle
	// signs at send time, so only transit and clock skew need room.
	PaddleDefaultTolerance = 5 * time.Second
)

// Paddle verifies Paddle Billing webhooks: Paddle-Signature is
// "ts=<unix>;h1=<hex HMAC-SHA256 of ts:body>" under the notification
// destination's secret key, "pdl_ntfset_" prefix included. Several h1 may
// appear; other keys are skipped. The replay key is the matching MAC, which
// covers ts, so Paddle's retries (re-signed) verify as new.
type Paddle struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewPaddle returns a Paddle verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means PaddleDefaultTolerance).
func NewPaddle(secrets []authz.Secret, tolerance time.Duration) *Paddle {
	return &Paddle{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, PaddleDefaultTolerance)}
}

// Scheme returns "paddle".
func (*Paddle) Scheme() string { return "paddle" }

// paddleHeader is a parsed Paddle-Signature: ts and the h1 entries, hex.
type paddleHeader struct {
	ts string
	h1 [maxSignatures]string
	n  int
}

// parsePaddleHeader splits Paddle-Signature on ';'. A repeated ts is
// refused as ambiguous; at most maxSignatures h1 are read.
func parsePaddleHeader(h string) (*paddleHeader, error) {
	if len(h) > maxSignatureHeader {
		return nil, errTooLong
	}
	p := &paddleHeader{}
	seenTS := false
	for rest := h; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ";")
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch key {
		case "ts":
			if seenTS {
				return nil, fmt.Errorf("%w: more than one ts", authz.SignatureInvalid)
			}
			seenTS = true
			p.ts = val
		case "h1":
			if p.n == maxSignatures {
				return nil, errTooMany
			}
			p.h1[p.n] = val
			p.n++
		}
	}
	if !seenTS {
		return nil, fmt.Errorf("%w: no ts", authz.SignatureInvalid)
	}
	if p.n == 0 {
		return nil, fmt.Errorf("%w: no h1 signature", authz.SignatureInvalid)
	}
	return p, nil
}

// Verify checks Paddle-Signature against the body and the clock.
func (p *Paddle) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	h, err := signatureHeader(r, PaddleSignatureHeader)
	if err != nil {
		return v, err
	}
	ph, err := parsePaddleHeader(h)
	if err != nil {
		return v, err
	}
	ts, ok := parseUnix(ph.ts, time.Second)
	if !ok {
		return v, fmt.Errorf("%w: ts is not a Unix time", authz.SignatureInvalid)
	}
	if err := checkWindow(ts, now, p.tolerance); err != nil {
		return v, err
	}
	var buf [maxSignatures][sha256.Size]byte
	var wants [maxSignatures][]byte
	n := 0
	for _, sig := range ph.h1[:ph.n] {
		if decodeHexTo(buf[n][:], sig) {
			wants[n] = buf[n][:]
			n++
		}
	}
	mac, _ := matchAnyMAC(p.keys, wants[:n], []byte(ph.ts), colon, r.Body)
	if mac == nil {
		return v, fmt.Errorf("%w: no secret matches", authz.SignatureInvalid)
	}
	v.ReplayKey = mac
	return v, nil
}

// signPaddle returns the header Paddle sends.
func signPaddle(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	mac := newMACKey(sha256.New, secret).sum(nil, []byte(ts), colon, m.Body)
	return []authz.HeaderValue{
		{Name: "Paddle-Signature", Value: "ts=" + ts + ";h1=" + hex.EncodeToString(mac)},
	}, nil
}
