package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// Handshake responders the catalog declares for a provider, besides those
// a mechanism answers itself (Zoom, Twitch, Meta, Discord). Each answers
// only what its provider's protocol requires, and none ever answers an
// HMAC of something a delivery could be: see crcResponder.

// handshakeSpec is a handshake in catalog.yaml.
type handshakeSpec struct {
	// Kind is echo (send a challenge back), crc (send back an HMAC of a
	// token, as X does) or intent (answer 200 to a signed delivery that
	// carries no event, as Xero's intent to receive).
	Kind string `json:"kind"`
	// Method is the handshake request's method.
	Method string `json:"method"`
	// Query and Header name where the challenge or token is: a query
	// parameter or a header.
	Query  string `json:"query"`
	Header string `json:"header"`
	// JSONField, when set, makes the answer the JSON object
	// {"<json_field>": answer}; without it the answer is text/plain.
	JSONField string `json:"json_field"`
	// Prefix is written before a crc answer, such as "sha256=".
	Prefix string `json:"prefix"`
	// Verified: the handshake request carries the provider's credential
	// or signature, which must verify before hookguard answers.
	Verified bool `json:"verified"`
}

// check validates a spec of catalog.yaml.
func (h handshakeSpec) check() error {
	switch h.Kind {
	case "echo":
		if (h.Query == "") == (h.Header == "") {
			return fmt.Errorf("echo handshake: set query or header")
		}
	case "crc":
		if h.Query == "" || h.JSONField == "" {
			return fmt.Errorf("crc handshake: set query and json_field")
		}
	case "intent":
	default:
		return fmt.Errorf("handshake kind %q: use echo, crc or intent", h.Kind)
	}
	if h.Method != "GET" && h.Method != "POST" {
		return fmt.Errorf("%s handshake: method GET or POST", h.Kind)
	}
	if h.Header != "" && h.Header != strings.ToLower(h.Header) {
		return fmt.Errorf("%s handshake: header in lower case", h.Kind)
	}
	return nil
}

// String describes the handshake for the docs.
func (h handshakeSpec) String() string {
	where := "query parameter `" + h.Query + "`"
	if h.Header != "" {
		where = "header `" + h.Header + "`"
	}
	answer := "as text/plain"
	if h.JSONField != "" {
		answer = "as JSON `{\"" + h.JSONField + "\": …}`"
	}
	switch h.Kind {
	case "echo":
		check := ""
		if h.Verified {
			check = ", after its credential verifies"
		}
		return fmt.Sprintf("%s with %s: the value echoed %s%s", h.Method, where, answer, check)
	case "crc":
		return fmt.Sprintf("%s with %s: `%sbase64(HMAC-SHA256(secret, token))` %s; deliveries must then be JSON objects", h.Method, where, h.Prefix, answer)
	default:
		return h.Method + " of a signed delivery without events: 200, after its signature verifies"
	}
}

// A responder answers one kind of handshake.
type responder interface {
	// answer returns the response to r, or nil when r is not this
	// handshake; an error refuses r as Verify would.
	answer(p *ProviderVerifier, r *authz.Request, now time.Time) (*authz.Response, error)
}

// responder builds the spec's responder for a provider configured by c.
func (h handshakeSpec) responder(env Env, c *policyv1.ProviderVerify) (responder, error) {
	switch h.Kind {
	case "crc":
		secrets, err := env.Secrets("secrets", c.GetSecrets())
		if err != nil {
			return nil, err
		}
		return &crcResponder{spec: h, key: newMACKey(sha256.New, secrets[0])}, nil
	case "intent":
		return intentResponder{spec: h}, nil
	}
	return echoResponder{spec: h}, nil
}

// handshakeValue reads the challenge or token of a handshake request: ""
// when the request carries none, and is no handshake.
func (h handshakeSpec) handshakeValue(r *authz.Request) (string, error) {
	if r.Method != h.Method {
		return "", nil
	}
	if h.Header != "" {
		return r.Header.Get(h.Header), nil
	}
	raw, ok := queryValue(r.Query, h.Query)
	if !ok {
		return "", nil
	}
	if len(raw) > 3*maxHandshakeToken {
		return "", fmt.Errorf("%w: %s longer than %d bytes", authz.SignatureInvalid, h.Query, maxHandshakeToken)
	}
	v, err := url.QueryUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not a query value", authz.SignatureInvalid, h.Query)
	}
	if v == "" {
		return "", fmt.Errorf("%w: empty %s", authz.SignatureInvalid, h.Query)
	}
	return v, nil
}

// reply makes the answer: text/plain, or a JSON object with one field.
func (h handshakeSpec) reply(value string) (*authz.Response, error) {
	if h.JSONField == "" {
		return &authz.Response{ContentType: "text/plain", Body: []byte(value)}, nil
	}
	body, err := json.Marshal(map[string]string{h.JSONField: value})
	if err != nil {
		return nil, err
	}
	return &authz.Response{ContentType: "application/json", Body: body}, nil
}

// echoResponder sends a challenge back, as Dropbox (`?challenge=`),
// Microsoft Graph (`?validationToken=`) and Okta
// (x-okta-verification-challenge) ask. Echoing proves only that the
// endpoint is reachable: no secret is involved, and the challenge is
// bounded and printable ASCII, so the answer can carry no markup a
// browser would run as anything but text.
type echoResponder struct{ spec handshakeSpec }

func (e echoResponder) answer(p *ProviderVerifier, r *authz.Request, now time.Time) (*authz.Response, error) {
	v, err := e.spec.handshakeValue(r)
	if v == "" || err != nil {
		return nil, err
	}
	if len(v) > maxHandshakeToken {
		return nil, fmt.Errorf("%w: challenge longer than %d bytes", authz.SignatureInvalid, maxHandshakeToken)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return nil, fmt.Errorf("%w: challenge is not printable ASCII", authz.SignatureInvalid)
		}
	}
	if e.spec.Verified {
		if _, err := p.inner.Verify(r, now); err != nil {
			return nil, err
		}
	}
	return e.spec.reply(v)
}

// maxCRCToken bounds a CRC token: X's are a few dozen characters.
const maxCRCToken = 128

// crcResponder answers X's challenge-response check: GET
// ?crc_token=<token> gets `sha256=` and the base64 HMAC-SHA256 of the
// token under the consumer secret (the first configured). The request is
// unsigned and the answer is an HMAC under the key deliveries are signed
// with, so an unbounded token would make hookguard sign any forged body.
// Only tokens of X's shape are answered (at most maxCRCToken characters
// of the base64url alphabet, with optional '=' padding), and the
// provider's deliveries must be JSON objects, which start with '{': no
// token is ever a delivery, so no answer is ever a delivery's signature.
type crcResponder struct {
	spec handshakeSpec
	key  *macKey
}

func (c *crcResponder) answer(_ *ProviderVerifier, r *authz.Request, _ time.Time) (*authz.Response, error) {
	token, err := c.spec.handshakeValue(r)
	if token == "" || err != nil {
		return nil, err
	}
	if !isCRCToken(token) {
		return nil, fmt.Errorf("%w: crc_token is not a token of the expected form", authz.SignatureInvalid)
	}
	mac := c.key.sum(nil, []byte(token))
	return c.spec.reply(c.spec.Prefix + base64.StdEncoding.EncodeToString(mac))
}

// isCRCToken reports whether s has the shape of an X CRC token: 1 to
// maxCRCToken characters of the base64url alphabet, then at most two '='.
func isCRCToken(s string) bool {
	body := strings.TrimRight(s, "=")
	if len(body) == 0 || len(s) > maxCRCToken || len(s)-len(body) > 2 {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// intentResponder answers Xero's intent to receive: a signed POST whose
// events list is empty gets 200 once its signature verifies, and is
// refused like a delivery (401) when it does not. Xero sends both, and
// enables the webhook only when each gets its answer. Only a small body
// naming events is decoded before the signature is checked.
type intentResponder struct{ spec handshakeSpec }

// eventsField is what an intent-to-receive body names.
var eventsField = []byte(`"events"`)

func (i intentResponder) answer(p *ProviderVerifier, r *authz.Request, now time.Time) (*authz.Response, error) {
	if r.Method != i.spec.Method || len(r.Body) > maxHandshakeBody || !bytes.Contains(r.Body, eventsField) {
		return nil, nil
	}
	var body struct {
		Events []json.RawMessage `json:"events"`
	}
	meter.json(len(r.Body))
	if json.Unmarshal(r.Body, &body) != nil || body.Events == nil || len(body.Events) > 0 {
		return nil, nil
	}
	if _, err := p.Verify(r, now); err != nil {
		return nil, err
	}
	return &authz.Response{ContentType: "text/plain"}, nil
}
