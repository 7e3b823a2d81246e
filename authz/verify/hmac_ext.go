package verify

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// The generic HMAC scheme's extensions, which the presets of the provider
// catalog need and the plain form (one header, one template) does not:
// several signature headers, a signature in the query, a timestamp inside a
// `t=…,v1=…` list, RFC 3339 timestamps, the form parameters as Twilio signs
// them ({form}), and plain keyed hashes ({secret}). A configuration that
// uses any of them verifies through verifyExt; secret decoding needs no
// path of its own, since it happens once, before the keys are made.

// hmacExt is what the extensions add to an HMAC.
type hmacExt struct {
	// headers are the signature headers: header, if any, then
	// more_headers.
	headers []string
	// query is the query parameter carrying the signature, if any.
	query string
	// tsKey is the key of the signature list entry holding the
	// timestamp, if any.
	tsKey string
	// rfc3339: the timestamp is an RFC 3339 date and time.
	rfc3339 bool
	// hashes are the keyed hashes of construction hash, one per secret;
	// nil for an HMAC.
	hashes []*keyedHash
	// secretAt has a bit set for each {secret} of the template.
	secretAt uint32
}

// decodeSecrets applies a secret encoding to the resolved secrets, once
// per policy load. A secret that does not decode is reported on its
// index, never quoted.
func decodeSecrets(secrets []authz.Secret, enc policyv1.SecretEncoding) ([]authz.Secret, error) {
	if enc == policyv1.SecretEncoding_SECRET_ENCODING_UNSPECIFIED || enc == policyv1.SecretEncoding_SECRET_ENCODING_RAW {
		return secrets, nil
	}
	out := make([]authz.Secret, len(secrets))
	var errs error
	for i, s := range secrets {
		var key []byte
		var err error
		switch enc {
		case policyv1.SecretEncoding_SECRET_ENCODING_BASE64:
			key, err = decodeBase64Secret(string(s))
		case policyv1.SecretEncoding_SECRET_ENCODING_HEX:
			key, err = hex.DecodeString(string(s))
			if err != nil {
				err = errors.New("not hex")
			}
		case policyv1.SecretEncoding_SECRET_ENCODING_WHSEC:
			rest, ok := strings.CutPrefix(string(s), "whsec_")
			if !ok {
				err = errors.New("does not start with whsec_")
				break
			}
			key, err = decodeBase64Secret(rest)
		default:
			return nil, fieldError("secret_encoding", "use raw, base64, hex or whsec")
		}
		if err == nil && len(key) == 0 {
			err = errors.New("decodes to nothing")
		}
		if err != nil {
			errs = errors.Join(errs, badSecret(fmt.Sprintf("secrets[%d]", i), err))
			continue
		}
		out[i] = key
	}
	if errs != nil {
		return nil, errs
	}
	return out, nil
}

// decodeBase64Secret decodes standard base64, padded or not.
func decodeBase64Secret(s string) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, errors.New("not base64")
	}
	return b, nil
}

// compileExt checks the extension fields of c and, when any is used, sets
// h.ext. secrets are the decoded secrets; newHash the configured hash.
func (h *HMAC) compileExt(c HMACConfig, newHash func() hash.Hash, secrets []authz.Secret) error {
	x := &hmacExt{query: c.QueryParameter, tsKey: c.TimestampKey}
	used := len(c.MoreHeaders) > 0 || c.QueryParameter != "" || c.TimestampKey != ""
	if c.Header != "" {
		x.headers = append(x.headers, c.Header)
	}
	x.headers = append(x.headers, c.MoreHeaders...)
	if c.TimestampUnit == policyv1.TimestampUnit_TIMESTAMP_UNIT_RFC3339 {
		x.rfc3339, used = true, true
	}
	usesSecret := false
	for i, s := range h.content {
		switch s.kind {
		case segForm:
			used = true
		case segSecret:
			usesSecret = true
			x.secretAt |= 1 << i
		}
	}
	switch c.Construction {
	case policyv1.MACConstruction_MAC_CONSTRUCTION_UNSPECIFIED, policyv1.MACConstruction_MAC_CONSTRUCTION_HMAC:
		if usesSecret {
			return fieldError("signed_content", "{secret} is for construction hash: an HMAC keys with the secret")
		}
	case policyv1.MACConstruction_MAC_CONSTRUCTION_HASH:
		if !usesSecret {
			return fieldError("signed_content", "construction hash needs {secret}, or anyone could compute the hash")
		}
		used = true
		for _, s := range secrets {
			x.hashes = append(x.hashes, newKeyedHash(newHash, s))
		}
	default:
		return fieldError("construction", "use hmac or hash")
	}
	if c.TimestampKey != "" {
		switch {
		case c.TimestampHeader != "":
			return fieldError("timestamp_key", "set timestamp_key or timestamp_header, not both")
		case c.Separator == "":
			return fieldError("separator", "required by timestamp_key: it separates the list's entries")
		case c.Prefix == "":
			return fieldError("prefix", "required by timestamp_key: it names the signature entries, such as \"v1=\"")
		case !h.usesTS:
			return fieldError("signed_content", "must include {timestamp} when timestamp_key is set")
		case strings.ContainsAny(c.TimestampKey, "=, ;"):
			return fieldError("timestamp_key", "is a key such as \"t\", without \"=\"")
		}
	}
	if c.QueryParameter != "" && strings.ContainsAny(c.QueryParameter, "&=#?") {
		return fieldError("query_parameter", "must be a parameter name")
	}
	if used {
		h.ext = x
	}
	return nil
}

// keyedHash is construction hash for one secret: a plain hash of the signed
// content, with the secret where {secret} stands.
type keyedHash struct {
	secret authz.Secret
	pool   sync.Pool
	kind   hashKind
}

func newKeyedHash(h func() hash.Hash, secret authz.Secret) *keyedHash {
	k := &keyedHash{secret: secret, kind: hashKindOf(h().Size())}
	k.pool.New = func() any { return h() }
	return k
}

// sum returns the hash of parts, with the secret in place of the parts
// whose bit is set in secretAt, appended to dst.
func (k *keyedHash) sum(dst []byte, secretAt uint32, parts ...[]byte) []byte {
	m := k.pool.Get().(hash.Hash)
	m.Reset()
	n := 0
	for i, p := range parts {
		if secretAt&(1<<i) != 0 {
			m.Write(k.secret)
			n += len(k.secret)
			continue
		}
		m.Write(p)
		n += len(p)
	}
	meter.mac(k.kind, n)
	dst = m.Sum(dst)
	k.pool.Put(m)
	return dst
}

// maxQuerySignature bounds a signature read from the query.
const maxQuerySignature = 1024

// verifyExt is Verify for a configuration that uses an extension.
func (h *HMAC) verifyExt(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	var list sigList
	present := false
	for _, name := range h.ext.headers {
		value := r.Header.Get(name)
		if value == "" {
			continue
		}
		present = true
		if len(value) > maxSignatureHeader {
			return v, errTooLong
		}
		if err := h.ext.appendSignatures(&list, value, h.separator, h.prefix); err != nil {
			return v, err
		}
	}
	if h.ext.query != "" {
		if raw, ok := queryValue(r.Query, h.ext.query); ok && raw != "" {
			present = true
			if len(raw) > maxQuerySignature {
				return v, errTooLong
			}
			sig, err := url.QueryUnescape(raw)
			if err != nil {
				return v, fmt.Errorf("%w: %s is not a query value", authz.SignatureInvalid, h.ext.query)
			}
			if err := h.ext.appendSignatures(&list, sig, h.separator, h.prefix); err != nil {
				return v, err
			}
		}
	}
	if !present {
		return v, authz.SignatureMissing
	}
	if list.n == 0 {
		return v, fmt.Errorf("%w: no signature with the expected prefix", authz.SignatureInvalid)
	}
	var id string
	var err error
	if h.idHeader != "" {
		if id, err = headerToken(r, h.idHeader, maxIDLength); err != nil && h.usesID {
			return v, err
		}
		v.DeliveryID = id
	}
	ts := list.ts
	switch {
	case h.tsHeader != "":
		if ts, err = headerToken(r, h.tsHeader, maxTimestampHeader); err != nil {
			return v, err
		}
	case h.ext.tsKey != "" && ts == "":
		return v, fmt.Errorf("%w: no %s= entry", authz.SignatureInvalid, h.ext.tsKey)
	}
	if ts != "" {
		t, ok := h.ext.parseTime(ts, h.tsUnit)
		if !ok {
			return v, fmt.Errorf("%w: timestamp is not in the expected form", authz.SignatureInvalid)
		}
		if err := checkWindow(t, now, h.tolerance); err != nil {
			return v, err
		}
	}
	var buf [maxTemplateSegments][]byte
	parts, err := h.parts(&buf, r, id, ts)
	if err != nil {
		return v, err
	}
	var l macList
	if l.decode(list.sigs[:list.n], h.size, h.enc) == 0 {
		return v, fmt.Errorf("%w: no signature in the expected form", authz.SignatureInvalid)
	}
	if h.ext.hashes != nil {
		v.ReplayKey = matchKeyedHash(h.ext.hashes, h.ext.secretAt, &l, parts)
	} else {
		v.ReplayKey, _ = l.match(h.keys, parts...)
	}
	if v.ReplayKey == nil {
		return v, errNoSecretMatches
	}
	return v, nil
}

// appendSignatures adds the signatures of one header (or query) value to
// list: the entries separated by sep that carry prefix, without it and,
// with a timestamp key, the timestamp entry's value. Every entry counts
// towards maxSignatures, whichever source it came from.
func (x *hmacExt) appendSignatures(list *sigList, value, sep, prefix string) error {
	var buf [maxSignatures]string
	if x.tsKey == "" {
		n, err := splitPrefixed(value, sep, prefix, &buf)
		if err != nil {
			return err
		}
		if list.n+n > maxSignatures {
			return errTooMany
		}
		list.n += copy(list.sigs[list.n:], buf[:n])
		return nil
	}
	tsPrefix := x.tsKey + "="
	entries := 0
	for rest := value; rest != ""; {
		var entry string
		entry, rest, _ = strings.Cut(rest, sep)
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		entries++
		if entries > maxSignatures {
			return errTooMany
		}
		if ts, ok := strings.CutPrefix(entry, tsPrefix); ok {
			if list.ts != "" && list.ts != ts {
				return fmt.Errorf("%w: two different timestamps", authz.SignatureInvalid)
			}
			list.ts = ts
			continue
		}
		if s, ok := strings.CutPrefix(entry, prefix); ok {
			if list.n == maxSignatures {
				return errTooMany
			}
			list.sigs[list.n] = s
			list.n++
		}
	}
	return nil
}

// parseTime reads a timestamp in the configured unit.
func (x *hmacExt) parseTime(ts string, unit time.Duration) (time.Time, bool) {
	if !x.rfc3339 {
		return parseUnix(ts, unit)
	}
	if len(ts) > maxTimestampHeader {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, err == nil
}

// formContent is {form}: a urlencoded body's parameters sorted, each as
// name then value (empty for an empty body). Any other body is refused,
// since {form} would cover none of it.
func formContent(contentType string, body []byte) ([]byte, error) {
	if len(body) == 0 {
		return []byte{}, nil
	}
	mediaType, _, _ := strings.Cut(contentType, ";")
	if !strings.EqualFold(strings.TrimSpace(mediaType), "application/x-www-form-urlencoded") {
		return nil, fmt.Errorf("%w: body is not a urlencoded form", authz.SignatureInvalid)
	}
	out, err := twilioFormContent(body)
	if out == nil && err == nil {
		out = []byte{}
	}
	return out, err
}

// matchKeyedHash is matchAnyMAC for construction hash: every secret's hash
// is computed and compared, in constant time, with every signature. The
// replay key is the ContentKey of the signed content without the secret.
func matchKeyedHash(keys []*keyedHash, secretAt uint32, l *macList, parts [][]byte) []byte {
	hit := 0
	var buf [64]byte
	for _, k := range keys {
		got := k.sum(buf[:0], secretAt, parts...)
		for i := range l.n {
			hit |= subtle.ConstantTimeCompare(got, l.buf[i][:l.size])
		}
	}
	if hit != 1 {
		return nil
	}
	return ContentKey(parts...)
}

// Delivery is what a provider sends: its headers and, where signing
// changes them, the body and the URL.
type Delivery struct {
	// Headers are the headers to send.
	Headers []authz.HeaderValue
	// Body is the body to send: the message's, or, for a provider that
	// signs in the body, the body with its signature.
	Body []byte
	// URL is the URL to request: the message's, or, for a provider that
	// signs in the query, the URL with its signature.
	URL string
}

// signExt signs m, which has its defaults, for a configuration that uses
// an extension, with the first secret.
func (h *HMAC) signExt(m Message) (Delivery, error) {
	d := Delivery{Body: m.Body, URL: m.URL}
	r := &authz.Request{Method: m.Method, Body: m.Body, Header: authz.Header{"content-type": m.ContentType}}
	if m.URL != "" {
		if err := splitURL(m.URL, r); err != nil {
			return d, err
		}
	}
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	switch {
	case h.ext.rfc3339:
		ts = m.Time.UTC().Format(time.RFC3339)
	case h.tsUnit == time.Millisecond:
		ts = strconv.FormatInt(m.Time.UnixMilli(), 10)
	}
	var buf [maxTemplateSegments][]byte
	parts, err := h.parts(&buf, r, m.ID, ts)
	if err != nil {
		return d, err
	}
	var mac []byte
	if h.ext.hashes != nil {
		mac = h.ext.hashes[0].sum(nil, h.ext.secretAt, parts...)
	} else {
		mac = h.keys[0].sum(nil, parts...)
	}
	sig := h.prefix + h.enc.encode(mac)
	if h.ext.tsKey != "" {
		sig = h.ext.tsKey + "=" + ts + h.separator + sig
	}
	switch {
	case len(h.ext.headers) > 0:
		d.Headers = append(d.Headers, authz.HeaderValue{Name: h.ext.headers[0], Value: sig})
	default:
		u, err := url.Parse(m.URL)
		if err != nil || m.URL == "" {
			return d, errors.New("the signature goes in the URL: give it")
		}
		q := u.RawQuery
		if q != "" {
			q += "&"
		}
		u.RawQuery = q + h.ext.query + "=" + url.QueryEscape(sig)
		d.URL = u.String()
	}
	if h.idHeader != "" {
		d.Headers = append(d.Headers, authz.HeaderValue{Name: h.idHeader, Value: m.ID})
	}
	if h.tsHeader != "" {
		d.Headers = append(d.Headers, authz.HeaderValue{Name: h.tsHeader, Value: ts})
	}
	return d, nil
}
