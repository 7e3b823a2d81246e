package verify

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildMailgun, Scheme{Sign: signMailgun, Replayable: true, Timestamped: true})
}

// MailgunDefaultTolerance: Mailgun leaves the window to the application;
// five minutes leaves room for queueing without letting a captured
// signature live long.
const MailgunDefaultTolerance = 5 * time.Minute

// Mailgun verifies Mailgun webhooks. The signature travels in the body, as
// a "signature" object {timestamp, token, signature} in JSON webhooks or as
// form fields in legacy ones: the hex HMAC-SHA256 of timestamp followed by
// token under the webhook signing key.
//
// Mailgun does not sign the body: whoever captures one delivery can attach
// its signature object to any body until the timestamp leaves the window.
// The replay key, the [ContentKey] of timestamp and token, refuses the
// second use within the replay TTL, so keep the TTL above the tolerance.
type Mailgun struct {
	keys      []*macKey
	tolerance time.Duration
}

// NewMailgun returns a Mailgun verifier accepting any of secrets, with
// timestamps at most tolerance away (zero means MailgunDefaultTolerance).
func NewMailgun(secrets []authz.Secret, tolerance time.Duration) *Mailgun {
	return &Mailgun{keys: newMACKeys(sha256.New, secrets), tolerance: orDefault(tolerance, MailgunDefaultTolerance)}
}

// buildMailgun builds a Mailgun verifier from its policy configuration.
func buildMailgun(c *policyv1.MailgunVerify, env Env) (authz.Verifier, error) {
	secrets, tolerance, err := secretsAndTolerance(env, c)
	if err != nil {
		return nil, err
	}
	return NewMailgun(secrets, tolerance), nil
}

// Scheme returns "mailgun".
func (*Mailgun) Scheme() string { return "mailgun" }

// Tolerance returns how far from now the signature object's timestamp may
// be.
func (m *Mailgun) Tolerance() time.Duration { return m.tolerance }

// mailgunSignature is the signature object of a Mailgun webhook.
type mailgunSignature struct {
	Timestamp json.Number `json:"timestamp"`
	Token     string      `json:"token"`
	Signature string      `json:"signature"`
}

// parseMailgunBody reads the signature object from a JSON body, or the
// timestamp, token and signature fields of a urlencoded form body. It
// returns nil when the body carries none.
//
// Of a JSON body only the top-level "signature" member is decoded (named
// as encoding/json would match it): the rest is skipped unread, since
// Mailgun does not sign it and a stranger's megabyte of JSON must not cost
// a full decoding. An object naming the member twice, or a signature
// object over maxSignatureHeader bytes, is refused.
func parseMailgunBody(contentType string, body []byte) (*mailgunSignature, error) {
	mediaType, _, _ := mime.ParseMediaType(contentType)
	if mediaType == "application/x-www-form-urlencoded" {
		return mailgunFormSignature(body), nil
	}
	raw, found, err := jsonMember(body, "signature")
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: more than one signature object", authz.SignatureInvalid)
	case !found:
		return nil, nil
	case len(raw) > maxSignatureHeader:
		return nil, fmt.Errorf("%w: signature object longer than %d bytes", authz.SignatureInvalid, maxSignatureHeader)
	}
	var s *mailgunSignature
	meter.json(len(raw))
	if json.Unmarshal(raw, &s) != nil {
		return nil, nil
	}
	return s, nil
}

// maxQueryParams is how many parameters url.ParseQuery reads, by default.
const maxQueryParams = 10000

// mailgunFormSignature reads the first timestamp, token and signature of a
// urlencoded form body as url.ParseQuery would, nil where it would fail (a
// malformed escape, a ';' in a parameter, more than maxQueryParams), but
// decoding only the names and those three values.
func mailgunFormSignature(body []byte) *mailgunSignature {
	meter.form(len(body))
	if bytes.Count(body, []byte("&"))+1 > maxQueryParams {
		return nil
	}
	var fields [3][]byte // timestamp, token, signature
	var set [3]bool
	var name []byte
	ok := true
	for rest := body; len(rest) > 0; {
		var pair []byte
		pair, rest, _ = bytes.Cut(rest, []byte("&"))
		if bytes.IndexByte(pair, ';') >= 0 {
			ok = false
			continue
		}
		if len(pair) == 0 {
			continue
		}
		rawName, value, _ := bytes.Cut(pair, []byte("="))
		var nameOK bool
		if name, nameOK = appendQueryUnescape(name[:0], rawName); !nameOK {
			ok = false
			continue
		}
		i := -1
		switch string(name) {
		case "timestamp":
			i = 0
		case "token":
			i = 1
		case "signature":
			i = 2
		}
		if i < 0 || set[i] {
			ok = ok && validQueryEscapes(value)
			continue
		}
		v, valueOK := appendQueryUnescape(nil, value)
		if !valueOK {
			ok = false
			continue
		}
		fields[i], set[i] = v, true
	}
	if !ok {
		return nil
	}
	return &mailgunSignature{Timestamp: json.Number(fields[0]), Token: string(fields[1]), Signature: string(fields[2])}
}

// Verify checks the body's signature object.
func (m *Mailgun) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	s, err := parseMailgunBody(r.Header.Get("content-type"), r.Body)
	if err != nil {
		return v, err
	}
	if s == nil || s.Signature == "" {
		return v, fmt.Errorf("%w: no signature object in the body", authz.SignatureMissing)
	}
	if s.Token == "" || len(s.Token) > maxIDLength {
		return v, fmt.Errorf("%w: no usable token", authz.SignatureInvalid)
	}
	v.DeliveryID = s.Token
	ts, ok := parseUnix(string(s.Timestamp), time.Second)
	if !ok {
		return v, fmt.Errorf("%w: timestamp is not a Unix time", authz.SignatureInvalid)
	}
	if err := checkWindow(ts, now, m.tolerance); err != nil {
		return v, err
	}
	var want [sha256.Size]byte
	if !decodeHexTo(want[:], s.Signature) {
		return v, fmt.Errorf("%w: not %d hex digits", authz.SignatureInvalid, 2*sha256.Size)
	}
	key := matchMAC(m.keys, want[:], []byte(s.Timestamp), []byte(s.Token))
	if key == nil {
		return v, errNoSecretMatches
	}
	v.ReplayKey = key
	return v, nil
}

// errMailgunBody is Sign's answer for Mailgun, which signs in the body.
var errMailgunBody = errors.New("mailgun signs in the body, not in headers: use SignMailgunBody")

func signMailgun(authz.Secret, Message) ([]authz.HeaderValue, error) {
	return nil, errMailgunBody
}

// SignMailgunBody returns m.Body, a JSON object, with the signature object
// Mailgun would add: the timestamp of m.Time, a random token, and their
// HMAC-SHA256 under key.
func SignMailgunBody(key authz.Secret, m Message) ([]byte, error) {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	var obj map[string]json.RawMessage
	body := bytes.TrimSpace(m.Body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, errors.New("mailgun: the body must be a JSON object")
	}
	var tok [25]byte
	rand.Read(tok[:])
	s := mailgunSignature{Timestamp: json.Number(strconv.FormatInt(m.Time.Unix(), 10)), Token: hex.EncodeToString(tok[:])}
	mac := newMACKey(sha256.New, key).sum(nil, []byte(s.Timestamp), []byte(s.Token))
	s.Signature = hex.EncodeToString(mac)
	sig, err := json.Marshal(struct {
		Timestamp string `json:"timestamp"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	}{string(s.Timestamp), s.Token, s.Signature})
	if err != nil {
		return nil, err
	}
	if obj == nil {
		obj = map[string]json.RawMessage{}
	}
	obj["signature"] = sig
	return json.Marshal(obj)
}
