package authz

import "net/netip"

// Request is what the core knows of an incoming webhook request. It is
// provider- and transport-neutral: package extauthz fills it from Envoy's
// CheckRequest, `hookguard test` from a YAML test case.
//
// The core never modifies a Request, and Verifiers must not either.
type Request struct {
	// ID is the request id (Envoy's x-request-id), for logs and deny bodies.
	ID string
	// Method is the HTTP method, upper case.
	Method string
	// Scheme is "https" or "http", as the client used it.
	Scheme string
	// Host is the :authority, possibly with a port.
	Host string
	// Path is the path without the query string, as sent (not decoded).
	Path string
	// Query is the raw query string without the '?'.
	Query string
	// Header holds the request headers with lower-case names. Repeated
	// headers are joined with ", " as Envoy does.
	Header Header
	// Body is the raw body, byte-exact.
	Body []byte
	// BodyTruncated is true when the body is incomplete (Envoy's
	// x-envoy-auth-partial-body: true).
	BodyTruncated bool
	// Source is the downstream address as Envoy determined it.
	Source netip.AddrPort
	// Principal is the client certificate's identity (first URI SAN, else
	// first DNS SAN, else subject), empty without mTLS.
	Principal string
	// Certificate is the client certificate as URL-encoded PEM, when Envoy
	// is configured to send it.
	Certificate string
	// ContextExtensions are the route's ext_authz context extensions.
	ContextExtensions map[string]string
}

// Header is a set of request headers keyed by lower-case name.
type Header map[string]string

// Get returns the value of the header with the given lower-case name, or "".
func (h Header) Get(name string) string { return h[name] }

// EndpointExtension is the context extension key by which an Envoy route
// names the policy endpoint its requests belong to.
const EndpointExtension = "hookguard.endpoint"
