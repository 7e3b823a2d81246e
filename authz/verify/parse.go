package verify

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// Bounds on what a request may make a verifier parse. Real providers stay
// far below them; a hostile client hitting them gets SignatureInvalid
// before anything is decoded, so work and memory per request stay bounded.
const (
	// maxSignatureHeader is the longest signature header accepted.
	maxSignatureHeader = 4096
	// maxSignatures is the most signatures one header may list.
	maxSignatures = 16
	// maxIDLength is the longest delivery id or token accepted.
	maxIDLength = 256
	// maxTimestampHeader is the longest timestamp header accepted; an
	// RFC 3339 time with nanoseconds and offset fits.
	maxTimestampHeader = 40
)

// errTooLong is returned for a signature header over maxSignatureHeader.
var errTooLong = fmt.Errorf("%w: signature header longer than %d bytes", authz.SignatureInvalid, maxSignatureHeader)

// errTooMany is returned for a list of more than maxSignatures signatures.
var errTooMany = fmt.Errorf("%w: more than %d signatures", authz.SignatureInvalid, maxSignatures)

// parseUnix parses a non-negative decimal Unix time in unit (time.Second or
// time.Millisecond). Only ASCII digits are accepted: no sign, no spaces, no
// fraction, no leading zero, so one instant has one spelling and nothing
// overflows. The spelling matters where a template puts the timestamp
// right after other signed text ("{body}{timestamp}"): with a leading zero
// allowed, a body's last "0" could move into the timestamp and the same
// signature would cover another body.
func parseUnix(s string, unit time.Duration) (time.Time, bool) {
	// 13 digits of seconds reach the year 318857; more would overflow.
	if len(s) == 0 || len(s) > 13 || len(s) > 1 && s[0] == '0' {
		return time.Time{}, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int64(c-'0')
	}
	if unit == time.Millisecond {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

// checkWindow refuses a timestamp more than tolerance away from now, in
// either direction: a post-dated signature would otherwise stay valid long
// after the replay cache has forgotten it.
func checkWindow(ts, now time.Time, tolerance time.Duration) error {
	d := now.Sub(ts)
	switch {
	case d > tolerance:
		return fmt.Errorf("%w: older than %v", authz.TimestampOutOfWindow, tolerance)
	case d < -tolerance:
		return fmt.Errorf("%w: more than %v in the future", authz.TimestampOutOfWindow, tolerance)
	}
	return nil
}

// decodeHexTo decodes s into dst, which it must fill exactly. Upper- and
// lower-case digits are both accepted; the replay key (ContentKey) never
// depends on these bytes' spelling.
func decodeHexTo(dst []byte, s string) bool {
	if len(s) != hex.EncodedLen(len(dst)) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

// decodeBase64To decodes s into dst, which it must fill exactly, with raw
// (base64.RawStdEncoding or base64.RawURLEncoding). Up to two '=' of padding
// are dropped first, so padded and unpadded spellings both decode; the
// replay key is never these bytes' spelling.
func decodeBase64To(dst []byte, raw *base64.Encoding, s string) bool {
	for i := 0; i < 2 && strings.HasSuffix(s, "="); i++ {
		s = s[:len(s)-1]
	}
	if raw.DecodedLen(len(s)) != len(dst) {
		return false
	}
	n, err := raw.Decode(dst, []byte(s))
	return err == nil && n == len(dst)
}

// decodeStdBase64To is decodeBase64To with the standard alphabet, which
// most base64 schemes use.
func decodeStdBase64To(dst []byte, s string) bool {
	return decodeBase64To(dst, base64.RawStdEncoding, s)
}

// sigEncoding is how a scheme spells its MACs. It is a value, not a
// decoding func, so that decoding calls known functions and the buffers it
// fills stay on the stack: a func value would move them to the heap.
type sigEncoding uint8

const (
	encHex sigEncoding = iota
	encBase64
	encBase64URL
)

// decode decodes s into dst, which it must fill exactly.
func (e sigEncoding) decode(dst []byte, s string) bool {
	switch e {
	case encBase64:
		return decodeStdBase64To(dst, s)
	case encBase64URL:
		return decodeBase64To(dst, base64.RawURLEncoding, s)
	default:
		return decodeHexTo(dst, s)
	}
}

// encode spells b as the sender does: hex in lower case, base64 padded,
// base64url unpadded.
func (e sigEncoding) encode(b []byte) string {
	switch e {
	case encBase64:
		return base64.StdEncoding.EncodeToString(b)
	case encBase64URL:
		return base64.RawURLEncoding.EncodeToString(b)
	default:
		return hex.EncodeToString(b)
	}
}

// decodePrefixedHex decodes a signature spelt prefix (such as "sha256=",
// in any case) and hex digits into dst, which they must fill.
func decodePrefixedHex(dst []byte, sig, prefix string) error {
	hexSig, ok := cutPrefixFold(sig, prefix)
	if !ok {
		return fmt.Errorf("%w: no %s prefix", authz.SignatureInvalid, prefix)
	}
	if !decodeHexTo(dst, hexSig) {
		return fmt.Errorf("%w: not %d hex digits", authz.SignatureInvalid, hex.EncodedLen(len(dst)))
	}
	return nil
}

// sigList is a parsed header that lists signatures: the timestamp text,
// when the header carries one, and the signatures, still encoded. Parsers
// return it by value, so it stays on the verifier's stack.
type sigList struct {
	ts   string
	sigs [maxSignatures]string
	n    int
}

// splitPrefixed reads a header listing signatures separated by sep (""
// when the header holds one) into out: the entries that start with prefix,
// without it. Entries of other versions are skipped, but count towards
// maxSignatures, so a header cannot make a verifier walk an unbounded list.
func splitPrefixed(h, sep, prefix string, out *[maxSignatures]string) (n int, err error) {
	entries := 0
	for rest := h; rest != ""; {
		var entry string
		if sep == "" {
			entry, rest = h, ""
		} else {
			entry, rest, _ = strings.Cut(rest, sep)
		}
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		entries++
		if entries > maxSignatures {
			return 0, errTooMany
		}
		if s, ok := strings.CutPrefix(entry, prefix); ok {
			out[n] = s
			n++
		}
	}
	return n, nil
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case, for prefixes such
// as "sha256=" that some senders capitalise.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// headerToken reads a short header such as a timestamp or a delivery id,
// refusing values over max bytes before anything else looks at them.
func headerToken(r *authz.Request, name string, max int) (string, error) {
	v := r.Header.Get(name)
	if v == "" {
		return "", fmt.Errorf("%w: no %s header", authz.SignatureMissing, name)
	}
	if len(v) > max {
		return "", fmt.Errorf("%w: %s header longer than %d bytes", authz.SignatureInvalid, name, max)
	}
	return v, nil
}

// deliveryID reads an unsigned delivery id header. An oversized one is
// dropped rather than refused: the signature does not cover it, so it
// only labels the decision.
func deliveryID(r *authz.Request, name string) string {
	id := r.Header.Get(name)
	if len(id) > maxIDLength {
		return ""
	}
	return id
}

// signatureHeader reads a signature header, refusing an oversized one.
func signatureHeader(r *authz.Request, name string) (string, error) {
	v := r.Header.Get(name)
	if v == "" {
		return "", authz.SignatureMissing
	}
	if len(v) > maxSignatureHeader {
		return "", errTooLong
	}
	return v, nil
}

// timestampHeader reads and checks a Unix-seconds timestamp header.
func timestampHeader(r *authz.Request, name string, now time.Time, tolerance time.Duration) (string, error) {
	s, err := headerToken(r, name, maxTimestampHeader)
	if err != nil {
		return "", err
	}
	ts, ok := parseUnix(s, time.Second)
	if !ok {
		return "", fmt.Errorf("%w: %s is not a Unix time", authz.SignatureInvalid, name)
	}
	if err := checkWindow(ts, now, tolerance); err != nil {
		return "", err
	}
	return s, nil
}

// orDefault returns d when tolerance is zero.
func orDefault(tolerance, d time.Duration) time.Duration {
	if tolerance <= 0 {
		return d
	}
	return tolerance
}

// requestURL is the URL a sender requested: scheme (https when empty),
// :authority, path and raw query, as sent.
func requestURL(scheme, host, path, query string) string {
	if scheme == "" {
		scheme = "https"
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(host) + len(path) + 1 + len(query))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	b.WriteString(path)
	if query != "" {
		b.WriteByte('?')
		b.WriteString(query)
	}
	return b.String()
}

// splitURL fills r's Scheme, Host, Path and Query from an absolute URL, for
// signers that sign parts of the request.
func splitURL(raw string, r *authz.Request) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return errors.New("URL must be absolute, such as https://host/path")
	}
	r.Scheme, r.Host, r.Path, r.Query = u.Scheme, u.Host, u.EscapedPath(), u.RawQuery
	return nil
}
