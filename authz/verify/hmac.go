package verify

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	// No signer: the format is the policy's; see HMAC.Sign.
	Register(buildHMAC, Scheme{Replayable: true, Timestamped: true})
}

// HMACDefaultTolerance is the generic scheme's tolerance when the policy
// names a timestamp header but no tolerance.
const HMACDefaultTolerance = 5 * time.Minute

// HMACConfig describes a generic HMAC scheme: the fields of the policy's
// HMACVerify, with secrets resolved, header names in lower case and the
// tolerance parsed. Zero values mean the defaults HMACVerify documents.
type HMACConfig struct {
	Secrets         []authz.Secret
	Algorithm       policyv1.HMACAlgorithm
	Header          string
	Prefix          string
	Encoding        policyv1.SignatureEncoding
	SignedContent   string
	IDHeader        string
	TimestampHeader string
	TimestampUnit   policyv1.TimestampUnit
	Tolerance       time.Duration
	Separator       string
	// The extensions some providers need; see hmac_ext.go.
	MoreHeaders    []string
	TimestampKey   string
	SecretEncoding policyv1.SecretEncoding
	Construction   policyv1.MACConstruction
	QueryParameter string
}

// HMAC verifies a provider-specific HMAC scheme described in the policy:
// which hash, which header, prefix and encoding, and which parts of the
// request, in which order and with which literal text between them, are
// signed. The template is compiled once; a request only hashes the parts.
// The replay key is the [ContentKey] of the signed content.
type HMAC struct {
	keys      []*macKey
	size      int
	header    string
	prefix    string
	enc       sigEncoding
	content   []segment
	idHeader  string
	tsHeader  string
	tsUnit    time.Duration
	tolerance time.Duration
	separator string
	usesID    bool
	usesTS    bool
	// ext, when set, holds the extensions the configuration uses, and
	// Verify and Sign take their paths (hmac_ext.go).
	ext *hmacExt
}

// segment is one part of the signed content: literal text or a
// placeholder.
type segment struct {
	kind    segmentKind
	literal []byte
}

type segmentKind uint8

const (
	segLiteral segmentKind = iota
	segID
	segTimestamp
	segBody
	segMethod
	segPath
	segURL
	segForm
	segSecret
)

var placeholders = map[string]segmentKind{
	"id": segID, "timestamp": segTimestamp, "body": segBody,
	"method": segMethod, "path": segPath, "url": segURL,
	"form": segForm, "secret": segSecret,
}

// maxTemplateSegments bounds the template, so a request's parts fit an
// array.
const maxTemplateSegments = 16

// parseTemplate compiles a signed-content template.
func parseTemplate(t string) ([]segment, error) {
	var segs []segment
	for rest := t; rest != ""; {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			segs = append(segs, segment{kind: segLiteral, literal: []byte(rest)})
			break
		}
		if rest[open] == '}' {
			return nil, errors.New("'}' without '{'")
		}
		if open > 0 {
			segs = append(segs, segment{kind: segLiteral, literal: []byte(rest[:open])})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, errors.New("'{' without '}'")
		}
		name := rest[open+1 : open+end]
		kind, ok := placeholders[name]
		if !ok {
			return nil, fmt.Errorf("unknown placeholder {%s}; use {id}, {timestamp}, {body}, {method}, {path}, {url}, {form} or {secret}", name)
		}
		segs = append(segs, segment{kind: kind})
		rest = rest[open+end+1:]
	}
	if len(segs) > maxTemplateSegments {
		return nil, fmt.Errorf("more than %d parts", maxTemplateSegments)
	}
	return segs, nil
}

// NewHMAC compiles a generic HMAC scheme. Its errors are *FieldError values
// naming the field of HMACVerify at fault, and never quote a secret.
func NewHMAC(c HMACConfig) (*HMAC, error) {
	h := &HMAC{header: c.Header, prefix: c.Prefix, idHeader: c.IDHeader, tsHeader: c.TimestampHeader, separator: c.Separator}
	var newHash func() hash.Hash
	switch c.Algorithm {
	case policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA1:
		newHash, h.size = sha1.New, sha1.Size
	case policyv1.HMACAlgorithm_HMAC_ALGORITHM_UNSPECIFIED, policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA256:
		newHash, h.size = sha256.New, sha256.Size
	case policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA512:
		newHash, h.size = sha512.New, sha512.Size
	default:
		return nil, fieldError("algorithm", "use sha1, sha256 or sha512")
	}
	secrets, err := decodeSecrets(c.Secrets, c.SecretEncoding)
	if err != nil {
		return nil, err
	}
	h.keys = newMACKeys(newHash, secrets)
	switch c.Encoding {
	case policyv1.SignatureEncoding_SIGNATURE_ENCODING_UNSPECIFIED, policyv1.SignatureEncoding_SIGNATURE_ENCODING_HEX:
		h.enc = encHex
	case policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64:
		h.enc = encBase64
	case policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64URL:
		h.enc = encBase64URL
	default:
		return nil, fieldError("encoding", "use hex, base64 or base64url")
	}
	if c.Header == "" && c.QueryParameter == "" {
		return nil, fieldError("header", "required")
	}
	tmpl := c.SignedContent
	if tmpl == "" {
		tmpl = "{body}"
	}
	if h.content, err = parseTemplate(tmpl); err != nil {
		return nil, &FieldError{Field: "signed_content", Err: err}
	}
	hasBody := false
	for _, s := range h.content {
		switch s.kind {
		case segBody, segForm:
			hasBody = true
		case segID:
			h.usesID = true
		case segTimestamp:
			h.usesTS = true
		}
	}
	if !hasBody {
		return nil, fieldError("signed_content", "must include {body} or {form}, or anyone could change the body")
	}
	if h.usesID && h.idHeader == "" {
		return nil, fieldError("id_header", "required by {id}")
	}
	if h.usesTS && h.tsHeader == "" && c.TimestampKey == "" {
		return nil, fieldError("timestamp_header", "required by {timestamp}")
	}
	if h.tsHeader != "" && !h.usesTS {
		// A timestamp that is checked but not signed guards nothing: a
		// replay past the TTL would simply carry a fresh one.
		return nil, fieldError("signed_content", "must include {timestamp} when timestamp_header is set")
	}
	switch c.TimestampUnit {
	case policyv1.TimestampUnit_TIMESTAMP_UNIT_UNSPECIFIED, policyv1.TimestampUnit_TIMESTAMP_UNIT_S:
		h.tsUnit = time.Second
	case policyv1.TimestampUnit_TIMESTAMP_UNIT_MS:
		h.tsUnit = time.Millisecond
	case policyv1.TimestampUnit_TIMESTAMP_UNIT_RFC3339:
		// Parsed as text; compileExt marks it.
	default:
		return nil, fieldError("timestamp_unit", "use s, ms or rfc3339")
	}
	if h.tsHeader == "" && c.TimestampKey == "" && c.Tolerance != 0 {
		return nil, fieldError("tolerance", "needs timestamp_header or timestamp_key")
	}
	h.tolerance = orDefault(c.Tolerance, HMACDefaultTolerance)
	if strings.TrimSpace(c.Separator) == "" && c.Separator != "" && c.Separator != " " {
		return nil, fieldError("separator", "use a visible character or a single space")
	}
	if err := h.compileExt(c, newHash, secrets); err != nil {
		return nil, err
	}
	return h, nil
}

// buildHMAC builds a generic HMAC verifier from its policy configuration.
func buildHMAC(c *policyv1.HMACVerify, env Env) (authz.Verifier, error) {
	header, err1 := headerField("header", c.GetHeader(), c.GetQueryParameter() == "")
	idHeader, err2 := headerField("id_header", c.GetIdHeader(), false)
	tsHeader, err3 := headerField("timestamp_header", c.GetTimestampHeader(), false)
	secrets, err4 := env.Secrets("secrets", c.GetSecrets())
	tolerance, err5 := parseTolerance(c.GetTolerance())
	more := make([]string, len(c.GetMoreHeaders()))
	var err6 error
	for i, name := range c.GetMoreHeaders() {
		var err error
		if more[i], err = headerField(fmt.Sprintf("more_headers[%d]", i), name, true); err != nil {
			err6 = errors.Join(err6, err)
		}
	}
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return nil, err
	}
	v, err := NewHMAC(HMACConfig{
		Secrets:         secrets,
		Algorithm:       c.GetAlgorithm(),
		Header:          header,
		Prefix:          c.GetPrefix(),
		Encoding:        c.GetEncoding(),
		SignedContent:   c.GetSignedContent(),
		IDHeader:        idHeader,
		TimestampHeader: tsHeader,
		TimestampUnit:   c.GetTimestampUnit(),
		Tolerance:       tolerance,
		Separator:       c.GetSeparator(),
		MoreHeaders:     more,
		TimestampKey:    c.GetTimestampKey(),
		SecretEncoding:  c.GetSecretEncoding(),
		Construction:    c.GetConstruction(),
		QueryParameter:  c.GetQueryParameter(),
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Scheme returns "hmac".
func (*HMAC) Scheme() string { return "hmac" }

// Tolerance returns how far from now the timestamp header may be, or zero
// when the scheme names no timestamp header and so checks no time.
func (h *HMAC) Tolerance() time.Duration {
	if h.tsHeader == "" && (h.ext == nil || h.ext.tsKey == "") {
		return 0
	}
	return h.tolerance
}

// Verify checks the configured signature header.
func (h *HMAC) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	if h.ext != nil {
		return h.verifyExt(r, now)
	}
	var v authz.Verified
	sig, err := signatureHeader(r, h.header)
	if err != nil {
		return v, err
	}
	var id, ts string
	if h.idHeader != "" {
		if id, err = headerToken(r, h.idHeader, maxIDLength); err != nil && h.usesID {
			return v, err
		}
		v.DeliveryID = id
	}
	if h.tsHeader != "" {
		if ts, err = headerToken(r, h.tsHeader, maxTimestampHeader); err != nil {
			return v, err
		}
		t, ok := parseUnix(ts, h.tsUnit)
		if !ok {
			return v, fmt.Errorf("%w: timestamp is not a Unix time", authz.SignatureInvalid)
		}
		if err := checkWindow(t, now, h.tolerance); err != nil {
			return v, err
		}
	}
	sigs, n, err := h.parseSignatures(sig)
	if err != nil {
		return v, err
	}
	var l macList
	if l.decode(sigs[:n], h.size, h.enc) == 0 {
		return v, fmt.Errorf("%w: no signature in the expected form", authz.SignatureInvalid)
	}
	var buf [maxTemplateSegments][]byte
	parts, err := h.parts(&buf, r, id, ts)
	if err != nil {
		return v, err
	}
	key, _ := l.match(h.keys, parts...)
	if key == nil {
		return v, errNoSecretMatches
	}
	v.ReplayKey = key
	return v, nil
}

// parseSignatures splits the header on the separator and keeps the entries
// that carry the prefix, without it; other entries are other versions.
func (h *HMAC) parseSignatures(sig string) (out [maxSignatures]string, n int, err error) {
	if n, err = splitPrefixed(sig, h.separator, h.prefix, &out); err != nil {
		return out, 0, err
	}
	if n == 0 {
		return out, 0, fmt.Errorf("%w: no signature with the expected prefix", authz.SignatureInvalid)
	}
	return out, n, nil
}

// parts lays out the signed content of r in buf, one part per template
// segment: {form} is the sorted form parameters, and {secret} an empty part
// that a keyed hash fills with its secret (hmacExt.secretAt marks it), so
// the replay key, ContentKey of the parts, never depends on the secret.
func (h *HMAC) parts(buf *[maxTemplateSegments][]byte, r *authz.Request, id, ts string) ([][]byte, error) {
	p := buf[:0]
	for _, s := range h.content {
		switch s.kind {
		case segForm:
			form, err := formContent(r.Header.Get("content-type"), r.Body)
			if err != nil {
				return nil, err
			}
			p = append(p, form)
		case segSecret:
			p = append(p, []byte{})
		case segLiteral:
			p = append(p, s.literal)
		case segID:
			p = append(p, []byte(id))
		case segTimestamp:
			p = append(p, []byte(ts))
		case segBody:
			p = append(p, r.Body)
		case segMethod:
			p = append(p, []byte(r.Method))
		case segPath:
			p = append(p, []byte(r.Path))
		case segURL:
			p = append(p, []byte(requestURL(r.Scheme, r.Host, r.Path, r.Query)))
		}
	}
	return p, nil
}

// Sign returns the signature header, and the id and timestamp headers when
// configured, for m under the first secret (a random id and the current time
// when m has none): what `hookguard sign` needs to
// make deliveries for an endpoint of this scheme. m.URL, when set, is
// split into the request's scheme, host, path and query.
func (h *HMAC) Sign(m Message) ([]authz.HeaderValue, error) {
	if len(h.keys) == 0 {
		return nil, errors.New("no secret")
	}
	m = m.withDefaults()
	if h.ext != nil {
		d, err := h.signExt(m)
		if err == nil && d.URL != m.URL {
			err = errors.New("the signature goes in the URL: sign with SignProvider")
		}
		return d.Headers, err
	}
	r := &authz.Request{Method: m.Method, Body: m.Body}
	if m.URL != "" {
		if err := splitURL(m.URL, r); err != nil {
			return nil, err
		}
	}
	ts := strconv.FormatInt(m.Time.Unix(), 10)
	if h.tsUnit == time.Millisecond {
		ts = strconv.FormatInt(m.Time.UnixMilli(), 10)
	}
	var buf [maxTemplateSegments][]byte
	parts, err := h.parts(&buf, r, m.ID, ts)
	if err != nil {
		return nil, err
	}
	mac := h.keys[0].sum(nil, parts...)
	out := []authz.HeaderValue{{Name: h.header, Value: h.prefix + h.enc.encode(mac)}}
	if h.idHeader != "" {
		out = append(out, authz.HeaderValue{Name: h.idHeader, Value: m.ID})
	}
	if h.tsHeader != "" {
		out = append(out, authz.HeaderValue{Name: h.tsHeader, Value: ts})
	}
	return out, nil
}
