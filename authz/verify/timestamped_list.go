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

// timestampedList is the signature header format Stripe and Paddle share:
// key=value items separated by sep, one under tsKey carrying the Unix time
// in seconds, and one or more under sigKey each carrying a hex HMAC-SHA256
// of the timestamp text, joint and the body: one per active secret while
// the provider rolls one. Items under other keys are other versions and
// are skipped.
type timestampedList struct {
	header string // lower case
	sep    string
	tsKey  string
	sigKey string
	joint  []byte
}

// parse splits a header. A repeated timestamp is refused, since which one
// was signed would be ambiguous; at most maxSignatures signatures are read.
func (f *timestampedList) parse(h string) (p sigList, err error) {
	if len(h) > maxSignatureHeader {
		return p, errTooLong
	}
	seenTS := false
	for rest := h; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, f.sep)
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch key {
		case f.tsKey:
			if seenTS {
				return p, fmt.Errorf("%w: more than one %s", authz.SignatureInvalid, f.tsKey)
			}
			seenTS = true
			p.ts = val
		case f.sigKey:
			if p.n == maxSignatures {
				return p, errTooMany
			}
			p.sigs[p.n] = val
			p.n++
		}
	}
	if !seenTS {
		return p, fmt.Errorf("%w: no %s", authz.SignatureInvalid, f.tsKey)
	}
	if p.n == 0 {
		return p, fmt.Errorf("%w: no %s signature", authz.SignatureInvalid, f.sigKey)
	}
	return p, nil
}

// verify checks r's header under keys and the timestamp against now. The
// replay key is the ContentKey of what is signed, which holds the
// timestamp: a provider's retry is signed afresh and verifies as new, while
// a captured request sent again does not.
func (f *timestampedList) verify(keys []*macKey, tolerance time.Duration, r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	h, err := signatureHeader(r, f.header)
	if err != nil {
		return v, err
	}
	p, err := f.parse(h)
	if err != nil {
		return v, err
	}
	ts, ok := parseUnix(p.ts, time.Second)
	if !ok {
		return v, fmt.Errorf("%w: %s is not a Unix time", authz.SignatureInvalid, f.tsKey)
	}
	if err := checkWindow(ts, now, tolerance); err != nil {
		return v, err
	}
	var l macList
	l.decode(p.sigs[:p.n], sha256.Size, encHex)
	key, _ := l.match(keys, []byte(p.ts), f.joint, r.Body)
	if key == nil {
		return v, errNoSecretMatches
	}
	v.ReplayKey = key
	return v, nil
}

// sign returns the header value the provider sends for m: its timestamp
// and one signature under secret.
func (f *timestampedList) sign(secret authz.Secret, m Message) string {
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	mac := newMACKey(sha256.New, secret).sum(nil, []byte(ts), f.joint, m.Body)
	return f.tsKey + "=" + ts + f.sep + f.sigKey + "=" + hex.EncodeToString(mac)
}
