package webhooktest

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/url"
	"slices"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// The checks in this file are written from the providers' documentation
// and the ext_authz API, not from hookguard's code: a test compares what
// hookguard decided with what they say.

// View is a CheckRequest read as the HTTP request Envoy received, by the
// ext_authz contract: the query is in the path; headers come in the
// headers map, or in header_map when Envoy encodes raw headers, repeated
// ones joined with ", "; the body is raw_body (pack_as_bytes), else body.
type View struct {
	Method, Scheme, Host, Path, Query string
	Header                            map[string]string
	Body                              []byte
}

// ViewOf reads req as a View.
func ViewOf(req *authv3.CheckRequest) View {
	h := req.GetAttributes().GetRequest().GetHttp()
	v := View{Method: h.GetMethod(), Scheme: h.GetScheme(), Host: h.GetHost(), Header: h.GetHeaders(), Body: h.GetRawBody()}
	if len(v.Header) == 0 && h.GetHeaderMap() != nil {
		v.Header = map[string]string{}
		for _, hv := range h.GetHeaderMap().GetHeaders() {
			name, value := strings.ToLower(hv.GetKey()), hv.GetValue()
			if hv.GetRawValue() != nil {
				value = string(hv.GetRawValue())
			}
			if prev, ok := v.Header[name]; ok {
				value = prev + ", " + value
			}
			v.Header[name] = value
		}
	}
	if v.Body == nil {
		v.Body = []byte(h.GetBody())
	}
	var query string
	v.Path, query, _ = strings.Cut(h.GetPath(), "?")
	if query == "" {
		query = h.GetQuery()
	}
	v.Query = query
	return v
}

// Covered returns what a delivery's signature covers under the scheme as
// hookguard reports it (Endpoint.Verified), in
// a form two requests share exactly when the same signature is valid for
// both. A request that verifies under an endpoint's secret must have the
// covered content of a delivery signed with that secret; anything else
// that verifies is a forgery.
//
// The signature itself is not part of it: a valid signature may be spelt
// several ways (hex case, base64 padding, other entries in a list), and
// none of those makes a forgery. For a credential (a token, Basic
// authentication), which signs nothing, it is the credential.
func Covered(scheme string, v View) string {
	ows := func(s string) string { return strings.Trim(s, " \t") }
	hdr := func(name string) string { return v.Header[name] }
	body := string(v.Body)
	parts := []string{scheme}
	switch scheme {
	case "github", "shopify", "meta", "pagerduty", "linear", "square", "twitter":
		// The body alone: Square signs its configured URL, not the
		// request's.
		parts = append(parts, body)
	case "token":
		parts = append(parts, hdr("x-gitlab-token"))
	case "basic_auth":
		// RFC 7617: the scheme name in any case, then base64 of
		// user:password.
		a := ows(hdr("authorization"))
		if len(a) < 6 || !strings.EqualFold(a[:6], "basic ") {
			return "\x01"
		}
		cred, err := base64.StdEncoding.DecodeString(ows(a[6:]))
		if err != nil {
			return "\x01"
		}
		parts = append(parts, string(cred))
	case "stripe":
		parts = append(parts, listValue(hdr("stripe-signature"), ",", "t"), body)
	case "paddle":
		parts = append(parts, listValue(hdr("paddle-signature"), ";", "ts"), body)
	case "slack":
		parts = append(parts, hdr("x-slack-request-timestamp"), body)
	case "zoom":
		parts = append(parts, hdr("x-zm-request-timestamp"), body)
	case "discord":
		parts = append(parts, hdr("x-signature-timestamp"), body)
	case "sendgrid":
		parts = append(parts, hdr("x-twilio-email-event-webhook-timestamp"), body)
	case "twitch":
		parts = append(parts, hdr("twitch-eventsub-message-id"), hdr("twitch-eventsub-message-timestamp"), body)
	case "standard_webhooks":
		// Svix's spellings stand in when webhook-signature is absent.
		prefix := "webhook-"
		if hdr("webhook-signature") == "" && hdr("svix-signature") != "" {
			prefix = "svix-"
		}
		parts = append(parts, hdr(prefix+"id"), hdr(prefix+"timestamp"), body)
	case "hmac":
		parts = append(parts, hdr(hmacIDHeader), hdr(hmacTSHeader), v.Method, v.Path, body)
	case "twilio":
		parts = append(parts, twilioCovered(v)...)
	case "mailgun":
		ts, token := mailgunCovered(hdr("content-type"), v.Body)
		parts = append(parts, ts, token)
	case "http_message_signatures":
		parts = append(parts, v.Method, authority(v.Scheme, v.Host), v.Path, ows(hdr("content-digest")), body,
			inputMember(hdr("signature-input"), "sig1"))
	default:
		panic("webhooktest: no covered content for scheme " + scheme)
	}
	return strings.Join(parts, "\x00")
}

// listValue returns the value of key in a header of key=value items
// separated by sep, or "\x01" when it is absent or repeated, which no
// delivery carries.
func listValue(h, sep, key string) string {
	found, n := "", 0
	for _, item := range strings.Split(h, sep) {
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if ok && k == key {
			found = val
			n++
		}
	}
	if n != 1 {
		return "\x01"
	}
	return found
}

// twilioCovered is Twilio's signed content: the URL as Twilio requested
// it, with or without the scheme's default port, then the form parameters
// sorted, or nothing when the URL carries the body's digest or there is no
// body.
func twilioCovered(v View) []string {
	scheme := v.Scheme
	if scheme == "" {
		scheme = "https"
	}
	host := v.Host
	if p := map[string]string{"https": ":443", "http": ":80"}[scheme]; p != "" {
		host = strings.TrimSuffix(host, p)
	}
	u := scheme + "://" + host + v.Path
	if v.Query != "" {
		u += "?" + v.Query
	}
	out := []string{u}
	for _, pair := range strings.Split(v.Query, "&") {
		if k, val, _ := strings.Cut(pair, "="); k == "bodySHA256" {
			return append(out, "digest", strings.ToLower(val), string(v.Body))
		}
	}
	if len(v.Body) == 0 {
		return out
	}
	mt, _, _ := mime.ParseMediaType(v.Header["content-type"])
	if mt != "application/x-www-form-urlencoded" {
		return append(out, "unsigned body", string(v.Body))
	}
	var params []string
	for _, pair := range strings.Split(string(v.Body), "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(val)
		if err1 != nil || err2 != nil {
			return append(out, "malformed form", string(v.Body))
		}
		params = append(params, k+"\x02"+val)
	}
	slices.Sort(params)
	return append(out, strings.Join(params, "\x03"))
}

// mailgunCovered returns the timestamp and token of a Mailgun body's
// signature object (JSON) or fields (a form), which is all Mailgun signs.
func mailgunCovered(contentType string, body []byte) (ts, token string) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return "\x01", "\x01"
		}
		return q.Get("timestamp"), q.Get("token")
	}
	var b struct {
		Signature *struct {
			Timestamp json.RawMessage `json:"timestamp"`
			Token     string          `json:"token"`
		} `json:"signature"`
	}
	if json.Unmarshal(body, &b) != nil || b.Signature == nil {
		return "\x01", "\x01"
	}
	// The timestamp as Mailgun writes it: a JSON string or number.
	ts = string(b.Signature.Timestamp)
	if strings.HasPrefix(ts, `"`) && json.Unmarshal(b.Signature.Timestamp, &ts) != nil {
		return "\x01", "\x01"
	}
	return ts, b.Signature.Token
}

// authority is RFC 9421's @authority: the host in lower case without the
// scheme's default port.
func authority(scheme, host string) string {
	host = strings.ToLower(host)
	switch {
	case scheme == "https" || scheme == "":
		return strings.TrimSuffix(host, ":443")
	case scheme == "http":
		return strings.TrimSuffix(host, ":80")
	}
	return host
}

// inputMember returns the member label of a Signature-Input dictionary,
// without whitespace between its tokens (which RFC 8941 ignores), or
// "\x01" when it is not there exactly once.
func inputMember(h, label string) string {
	var found string
	n := 0
	for _, m := range splitOutsideQuotes(h, ',') {
		m = strings.Trim(m, " \t")
		if k, _, ok := strings.Cut(m, "="); ok && k == label {
			found = m
			n++
		}
	}
	if n != 1 {
		return "\x01"
	}
	return removeSpaceOutsideQuotes(found)
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"' && (i == 0 || s[i-1] != '\\'):
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func removeSpaceOutsideQuotes(s string) string {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' && (i == 0 || s[i-1] != '\\') {
			quoted = !quoted
		}
		if !quoted && (c == ' ' || c == '\t') {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// CanonicalPath reports whether path (without its query) is in the
// canonical form hookguard documents, checked here from RFC 3986: it
// starts with "/", has no empty segment but a trailing one, no "." or ".."
// segment, only printable ASCII without space, backslash or ";", and its
// percent-escapes are upper case and encode neither an unreserved
// character nor "/", "\" or a control character. No endpoint of the
// policy accepts ";parameters", so ";" is never canonical here.
func CanonicalPath(path string) bool {
	if path == "" || path[0] != '/' || len(path) > 2048 {
		return false
	}
	segs := strings.Split(path[1:], "/")
	for i, s := range segs {
		if s == "" && i != len(segs)-1 || s == "." || s == ".." {
			return false
		}
		for j := 0; j < len(s); j++ {
			c := s[j]
			switch {
			case c == '%':
				if j+2 >= len(s) {
					return false
				}
				hi, lo := s[j+1], s[j+2]
				if !upperHex(hi) || !upperHex(lo) {
					return false
				}
				b := unhex(hi)<<4 | unhex(lo)
				if b < 0x20 || b == 0x7f || b == '/' || b == '\\' || unreserved(b) {
					return false
				}
				j += 2
			case c <= ' ' || c >= 0x7f || c == '\\' || c == ';':
				return false
			}
		}
	}
	return true
}

func upperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// CanonicalAuthority reports whether an :authority is one hookguard may
// match a host-restricted endpoint on: empty, or a DNS name (letters,
// digits, "-" and "_", labels of 1 to 63 bytes, a trailing dot allowed)
// with at most one decimal port up to 65535. IPv6 literals are left
// out: ok is false for them, and the caller asserts nothing.
func CanonicalAuthority(a string) (canonical, ok bool) {
	if strings.HasPrefix(a, "[") {
		return false, false
	}
	if a == "" {
		return true, true
	}
	host, port, hasPort := strings.Cut(a, ":")
	if hasPort {
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false, true
		}
		n := 0
		for _, c := range port {
			n = n*10 + int(c-'0')
		}
		if n > 65535 {
			return false, true
		}
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return false, true
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return false, true
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false, true
			}
		}
	}
	return true, true
}

// CanonicalHost returns the host an endpoint's hosts are compared with:
// the authority in lower case, without its port and trailing dot. ok is
// false when CanonicalAuthority does not accept the authority.
func CanonicalHost(authority string) (host string, ok bool) {
	if c, known := CanonicalAuthority(authority); !c || !known {
		return "", false
	}
	host, _, _ = strings.Cut(authority, ":")
	return strings.ToLower(strings.TrimSuffix(host, ".")), true
}

// FoldPath is path as a forgiving router or framework may read it: in
// lower case, each segment without trailing dots and encoded spaces
// ("%20"), which some file systems and frameworks ignore, and without a
// trailing slash. A path that folds to a strict endpoint's is a near miss
// of it.
func FoldPath(path string) string {
	segs := strings.Split(strings.ToLower(path), "/")
	for i, s := range segs {
		for {
			if t := strings.TrimSuffix(s, "."); t != s {
				s = t
				continue
			}
			if t := strings.TrimSuffix(s, "%20"); t != s {
				s = t
				continue
			}
			break
		}
		segs[i] = s
	}
	for len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	if len(segs) == 1 {
		return "/"
	}
	return strings.Join(segs, "/")
}
