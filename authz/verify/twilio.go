package verify

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildTwilio, Scheme{Sign: signTwilio, Replayable: true})
}

// Twilio header names.
const (
	TwilioSignatureHeader   = "x-twilio-signature"
	TwilioIdempotencyHeader = "i-twilio-idempotency-token"
)

// maxFormParams bounds the form parameters a Twilio request may carry;
// Twilio's voice and messaging callbacks send a few dozen.
const maxFormParams = 512

// Twilio verifies Twilio webhooks: X-Twilio-Signature is the base64
// HMAC-SHA1, under the account's Auth Token, of the full URL Twilio
// requested (scheme, host, path and query as Twilio saw them) followed, for
// a form post, by every parameter sorted by name as name and value with no
// separator. A JSON body is covered instead through the URL's bodySHA256
// parameter, the hex SHA-256 of the body, which is checked too. A body that
// is neither is covered by nothing and refused.
//
// The URL is rebuilt from the request as Envoy received it, so a proxy in
// front of Envoy must not change scheme, host or path. As Twilio's SDKs do,
// the URL is tried with and without the scheme's default port, since
// Twilio may or may not have had it in the configured URL.
//
// Twilio signs no timestamp; the replay key is the [ContentKey] of the URL
// and the form parameters (or, for JSON, of the URL, which carries the
// body's digest).
type Twilio struct {
	keys []*macKey
}

// NewTwilio returns a Twilio verifier accepting any of secrets (Auth
// Tokens).
func NewTwilio(secrets []authz.Secret) *Twilio {
	return &Twilio{keys: newMACKeys(sha1.New, secrets)}
}

// buildTwilio builds a Twilio verifier from its policy configuration.
func buildTwilio(c *policyv1.TwilioVerify, env Env) (authz.Verifier, error) {
	secrets, err := env.Secrets("secrets", c.GetSecrets())
	if err != nil {
		return nil, err
	}
	return NewTwilio(secrets), nil
}

// Scheme returns "twilio".
func (*Twilio) Scheme() string { return "twilio" }

// Verify checks X-Twilio-Signature against the URL and the body.
func (t *Twilio) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	v := authz.Verified{DeliveryID: deliveryID(r, TwilioIdempotencyHeader)}
	sig, err := signatureHeader(r, TwilioSignatureHeader)
	if err != nil {
		return v, err
	}
	var want [sha1.Size]byte
	if !decodeStdBase64To(want[:], sig) {
		return v, fmt.Errorf("%w: not base64 of %d bytes", authz.SignatureInvalid, sha1.Size)
	}
	params, err := twilioSignedParams(r)
	if err != nil {
		return v, err
	}
	for _, u := range twilioURLs(r.Scheme, r.Host, r.Path, r.Query) {
		if u == "" {
			continue
		}
		if key := matchMAC(t.keys, want[:], []byte(u), params); key != nil {
			v.ReplayKey = key
			return v, nil
		}
	}
	return v, errNoSecretMatches
}

// twilioSignedParams returns what Twilio appends to the URL: the sorted
// form parameters of a form post, nothing for an empty body or a body whose
// digest the URL's bodySHA256 carries (checked here).
func twilioSignedParams(r *authz.Request) ([]byte, error) {
	if digest, ok := queryValue(r.Query, "bodySHA256"); ok {
		var want [sha256.Size]byte
		if !decodeHexTo(want[:], digest) {
			return nil, fmt.Errorf("%w: bodySHA256 is not %d hex digits", authz.SignatureInvalid, 2*sha256.Size)
		}
		got := sha256.Sum256(r.Body)
		meter.hash(hashSHA256, len(r.Body))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return nil, fmt.Errorf("%w: body does not match bodySHA256", authz.SignatureInvalid)
		}
		return nil, nil
	}
	if len(r.Body) == 0 {
		return nil, nil
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("content-type"))
	if mediaType != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("%w: body is neither a form nor covered by bodySHA256", authz.SignatureInvalid)
	}
	return twilioFormContent(r.Body)
}

// twilioFormContent decodes a urlencoded body and returns its parameters
// sorted by name, then value, each as name followed by value. It refuses
// more than maxFormParams parameters and malformed escapes. Names and
// values are decoded into one buffer, each name just before its value, so
// the body is decoded once and the sorted content copied once.
func twilioFormContent(body []byte) ([]byte, error) {
	meter.form(len(body))
	n := 1 + bytes.Count(body, []byte("&"))
	if n > maxFormParams {
		return nil, fmt.Errorf("%w: more than %d form parameters", authz.SignatureInvalid, maxFormParams)
	}
	// A parameter is decoded[start:end], its name decoded[start:mid].
	type param struct{ start, mid, end int }
	params := make([]param, 0, n)
	decoded := make([]byte, 0, len(body))
	for rest := body; len(rest) > 0; {
		var pair []byte
		pair, rest, _ = bytes.Cut(rest, []byte("&"))
		if len(pair) == 0 {
			continue
		}
		name, value, _ := bytes.Cut(pair, []byte("="))
		p := param{start: len(decoded)}
		var ok1, ok2 bool
		decoded, ok1 = appendQueryUnescape(decoded, name)
		p.mid = len(decoded)
		decoded, ok2 = appendQueryUnescape(decoded, value)
		p.end = len(decoded)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: malformed form body", authz.SignatureInvalid)
		}
		params = append(params, p)
	}
	slices.SortFunc(params, func(a, b param) int {
		if c := bytes.Compare(decoded[a.start:a.mid], decoded[b.start:b.mid]); c != 0 {
			return c
		}
		return bytes.Compare(decoded[a.mid:a.end], decoded[b.mid:b.end])
	})
	out := make([]byte, 0, len(decoded))
	for _, p := range params {
		out = append(out, decoded[p.start:p.end]...)
	}
	return out, nil
}

// queryValue returns the raw value of the first name parameter of a raw
// query, without decoding the whole query.
func queryValue(query, name string) (string, bool) {
	for rest := query; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if k, v, _ := strings.Cut(pair, "="); k == name {
			return v, true
		}
	}
	return "", false
}

// twilioURLs returns the URL Twilio requested as Envoy saw it, and the same
// with the default port added or removed ("" when there is no such
// variant).
func twilioURLs(scheme, host, path, query string) [2]string {
	if scheme == "" {
		scheme = "https"
	}
	port := ":443"
	if scheme == "http" {
		port = ":80"
	}
	var out [2]string
	out[0] = requestURL(scheme, host, path, query)
	switch {
	case strings.HasSuffix(host, port):
		out[1] = requestURL(scheme, strings.TrimSuffix(host, port), path, query)
	case !hasPort(host):
		out[1] = requestURL(scheme, host+port, path, query)
	}
	return out
}

// hasPort reports whether an :authority names a port.
func hasPort(host string) bool {
	i := strings.LastIndexByte(host, ':')
	return i >= 0 && !strings.Contains(host[i:], "]")
}

// signTwilio returns the header Twilio sends for m.URL. A form body
// (ContentType application/x-www-form-urlencoded) is signed by its
// parameters; any other body needs m.URL to carry bodySHA256 with its
// digest, as Twilio's own URLs for JSON callbacks do.
func signTwilio(secret authz.Secret, m Message) ([]authz.HeaderValue, error) {
	if m.URL == "" {
		return nil, errors.New("twilio signs the URL: give it")
	}
	u, err := url.Parse(m.URL)
	if err != nil {
		return nil, errors.New("twilio: URL does not parse")
	}
	var params []byte
	mediaType, _, _ := mime.ParseMediaType(m.ContentType)
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		if params, err = twilioFormContent(m.Body); err != nil {
			return nil, errors.New("twilio: malformed form body")
		}
	case len(m.Body) > 0:
		sum := sha256.Sum256(m.Body)
		want := hex.EncodeToString(sum[:])
		if got, ok := queryValue(u.RawQuery, "bodySHA256"); !ok || !strings.EqualFold(got, want) {
			return nil, fmt.Errorf("twilio: for a non-form body the URL must end in bodySHA256=%s", want)
		}
	}
	mac := newMACKey(sha1.New, secret).sum(nil, []byte(m.URL), params)
	return []authz.HeaderValue{
		{Name: "X-Twilio-Signature", Value: base64.StdEncoding.EncodeToString(mac)},
		{Name: "I-Twilio-Idempotency-Token", Value: m.ID},
	}, nil
}
