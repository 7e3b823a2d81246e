package authz

import (
	"errors"
	"net/netip"
	"strings"
)

// MaxPathBytes bounds the request path hookguard considers. Webhook paths
// are short; a longer one is refused before any matching work.
const MaxPathBytes = 2048

// Why a request is not canonical. The texts go into the decision's detail,
// never the offending bytes themselves.
var (
	errPathEmpty          = errors.New("path does not start with /")
	errPathTooLong        = errors.New("path longer than 2048 bytes")
	errPathByte           = errors.New("path holds a control, space, non-ASCII or backslash byte")
	errPathEscape         = errors.New("path holds a malformed percent-escape")
	errPathEncodedSep     = errors.New("path holds an encoded /, \\ or control character")
	errPathEncodedPlain   = errors.New("path percent-encodes a character that needs no escape")
	errPathEscapeCase     = errors.New("path has a lower-case percent-escape")
	errPathDotSegment     = errors.New("path holds a . or .. segment")
	errPathEmptySegment   = errors.New("path holds an empty segment (//)")
	errPathParameters     = errors.New("path holds ;parameters")
	errAuthorityMalformed = errors.New("malformed :authority")
)

// checkPath reports whether path (without its query) is already in the
// canonical form of RFC 3986 section 6.2.2 as hookguard defines it: it
// starts with "/", holds no empty, "." or ".." segment, no byte outside
// printable ASCII, no backslash, no percent-escape of an unreserved
// character or of "/", "\" or a control character, and only upper-case
// escapes. Paths with ";" parameters are reported with errPathParameters,
// which the endpoint may accept (see Endpoint.PathParameters).
//
// A path that fails is never matched loosely: a router and an upstream that
// each read it their own way are how requests reach a route the policy did
// not mean (see docs/threat-model.md).
func checkPath(path string) error {
	if len(path) > MaxPathBytes {
		return errPathTooLong
	}
	if path == "" || path[0] != '/' {
		return errPathEmpty
	}
	params := false
	segStart := 1
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '/':
			if i > 0 {
				if err := checkSegment(path[segStart:i]); err != nil {
					return err
				}
				segStart = i + 1
			}
		case c == '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return errPathEscape
			}
			if isLowerHex(path[i+1]) || isLowerHex(path[i+2]) {
				return errPathEscapeCase
			}
			b := unhex(path[i+1])<<4 | unhex(path[i+2])
			switch {
			case b == '/' || b == '\\' || b < 0x20 || b == 0x7f:
				return errPathEncodedSep
			case isUnreserved(b):
				return errPathEncodedPlain
			}
			i += 2
		case c == ';':
			params = true
		case c <= ' ' || c >= 0x7f || c == '\\':
			return errPathByte
		}
	}
	// The last segment; a trailing "/" leaves it empty, which is allowed.
	if segStart < len(path) {
		if err := checkSegment(path[segStart:]); err != nil {
			return err
		}
	}
	if params {
		return errPathParameters
	}
	return nil
}

// checkSegment checks one path segment, without its slashes. Only the
// last segment may be empty (a trailing slash).
func checkSegment(seg string) error {
	seg, _, _ = strings.Cut(seg, ";")
	switch seg {
	case "":
		return errPathEmptySegment
	case ".", "..":
		return errPathDotSegment
	}
	return nil
}

// stripPathParameters removes the ";parameters" of every segment, for an
// endpoint that accepts them: "/a;x=1/b;y" becomes "/a/b".
func stripPathParameters(path string) string {
	if !strings.Contains(path, ";") {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for len(path) > 0 {
		end := strings.IndexByte(path[1:], '/') + 1
		if end == 0 {
			end = len(path)
		}
		seg, _, _ := strings.Cut(path[:end], ";")
		b.WriteString(seg)
		path = path[end:]
	}
	return b.String()
}

// canonicalHost returns the host of an :authority in the form endpoints
// match on: lower case, without the port and without the trailing dot of a
// fully qualified name, and an IPv6 literal without its brackets. An
// authority with userinfo, a percent-escape, an empty label, several
// ports, a port that is not a number, or any byte a host name cannot hold
// is refused: a router in front may read it differently than hookguard.
// An empty authority is the empty host, which only endpoints without a
// host restriction match.
func canonicalHost(authority string) (string, error) {
	if authority == "" {
		return "", nil
	}
	if len(authority) > 255+6 {
		return "", errAuthorityMalformed
	}
	host, port := authority, ""
	if authority[0] == '[' {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", errAuthorityMalformed
		}
		host, port = authority[1:end], authority[end+1:]
		if port != "" && port[0] != ':' {
			return "", errAuthorityMalformed
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", errAuthorityMalformed
		}
		host = a.String()
	} else if i := strings.IndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i:]
	}
	if port != "" {
		if !validPort(port[1:]) {
			return "", errAuthorityMalformed
		}
	}
	if authority[0] == '[' {
		return host, nil
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return "", errAuthorityMalformed
	}
	lower := true
	labelLen := 0
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c == '.':
			if labelLen == 0 {
				return "", errAuthorityMalformed
			}
			labelLen = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case 'A' <= c && c <= 'Z':
			lower = false
		default:
			return "", errAuthorityMalformed
		}
		labelLen++
		if labelLen > 63 {
			return "", errAuthorityMalformed
		}
	}
	if labelLen == 0 {
		return "", errAuthorityMalformed // an empty last label: "a.b.."
	}
	if !lower {
		host = strings.ToLower(host)
	}
	return host, nil
}

// validPort reports whether p is a decimal port number, 1 to 65535 digits
// without a sign; an empty port after a colon is refused too.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// foldPath is the form in which two paths are "near misses" of each other:
// lower case, and every segment without the trailing dots and spaces
// (encoded as %20) that some file systems and frameworks ignore, and
// without a trailing slash. buf is scratch space, so that folding a short
// path does not allocate.
func foldPath(buf []byte, path string) []byte {
	out := buf[:0]
	for len(path) > 0 {
		// path starts with '/'.
		end := strings.IndexByte(path[1:], '/') + 1
		if end == 0 {
			end = len(path)
		}
		seg := path[1:end]
		path = path[end:]
		for {
			switch {
			case strings.HasSuffix(seg, "."):
				seg = seg[:len(seg)-1]
				continue
			case strings.HasSuffix(seg, "%20"):
				seg = seg[:len(seg)-3]
				continue
			}
			break
		}
		if seg == "" && path == "" {
			break // a trailing slash
		}
		out = append(out, '/')
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		out = append(out, '/')
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isUnreserved reports whether c is an unreserved character of RFC 3986
// section 2.3, which a canonical URI never percent-encodes.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
