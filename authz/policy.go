package authz

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Endpoint is one compiled policy endpoint. Package authz/policy builds
// Endpoints from policy files; tests may build them directly.
type Endpoint struct {
	// Name is unique within a Policy.
	Name string
	// Match selects requests when Envoy does not name the endpoint.
	Match Match
	// Verifier checks the signature. Required.
	Verifier Verifier
	// ReplayTTL is how long a delivery is remembered; zero turns replay
	// protection off.
	ReplayTTL time.Duration
	// ReplayCapacity is the most deliveries remembered at once: the
	// endpoint's share of the nonce store. Zero lets the store choose.
	ReplayCapacity int
	// ReplayOnFull says what a new delivery meets when the share is full.
	ReplayOnFull OnFull
	// SetHeaders are set on allowed requests.
	SetHeaders []HeaderValue
	// RemoveHeaders are removed from allowed requests.
	RemoveHeaders []string
	// DryRun lets every request through and only logs the decision.
	DryRun bool
	// Handshakes lets a Handshaker verifier answer its provider's endpoint
	// verification requests.
	Handshakes bool
	// StateFallback lets the endpoint decide on a replica's local state
	// while shared state (Redis) is unavailable, instead of answering
	// [Unavailable]. The core does not read it: the shared stores do,
	// through [Policy.Endpoint].
	StateFallback bool

	// The stages, each nil when the endpoint does not use it.

	// Source restricts source addresses.
	Source *SourcePolicy
	// Identity restricts client certificate identities.
	Identity *IdentityPolicy
	// RateLimit limits requests per source and per endpoint.
	RateLimit *RateLimitPolicy
	// Payload validates the body once the signature verified.
	Payload *PayloadPolicy
}

// Match selects requests by host, path and method. See the policy schema
// (proto/hookguard/policy/v1) for the rules.
type Match struct {
	// Hosts are exact names or "*."-prefixed wildcards, lower case; empty
	// matches every host.
	Hosts []string
	// Path is an exact path; PathPrefix a segment-wise prefix. At most one
	// is set; with neither, every path matches.
	Path, PathPrefix string
	// Methods are the allowed methods, upper case; empty means POST.
	Methods []string
	// PathParameters accepts ";parameters" in path segments, which are
	// then ignored for matching. Without it such a request is refused
	// with [NonCanonicalRequest], since routers and frameworks disagree on
	// what a parameter is.
	PathParameters bool
}

// Policy is an immutable, compiled policy snapshot: everything a request
// needs is prepared here once per load, so Check does no parsing or
// compiling.
type Policy struct {
	revision string
	byName   map[string]*endpoint
	routes   []*endpoint // most specific first
}

// endpoint is an Endpoint with its matcher and header plan precompiled.
type endpoint struct {
	*Endpoint
	exactHosts    map[string]struct{}
	wildcardHosts []string // ".example.com" for "*.example.com"
	anyHost       bool
	methods       []string
	foldedPath    string        // Match.Path or Match.PathPrefix in foldPath form
	setHeaders    []HeaderValue // x-hookguard-endpoint, then the policy's
	removeHeaders []string      // the policy's, then the verifier's credentials
}

// NewPolicy compiles endpoints into a Policy. revision identifies the policy
// set (a commit or content hash) in logs. It fails on a missing name or
// verifier and on duplicate names; package authz/policy reports those
// earlier with file and field.
func NewPolicy(revision string, endpoints []*Endpoint) (*Policy, error) {
	p := &Policy{revision: revision, byName: make(map[string]*endpoint, len(endpoints))}
	for _, e := range endpoints {
		if e.Name == "" {
			return nil, fmt.Errorf("authz: endpoint without a name")
		}
		if e.Verifier == nil {
			return nil, fmt.Errorf("authz: endpoint %q has no verifier", e.Name)
		}
		if _, dup := p.byName[e.Name]; dup {
			return nil, fmt.Errorf("authz: duplicate endpoint %q", e.Name)
		}
		c := compileEndpoint(e)
		p.byName[e.Name] = c
		p.routes = append(p.routes, c)
	}
	slices.SortStableFunc(p.routes, func(a, b *endpoint) int { return compareSpecificity(a, b) })
	return p, nil
}

func compileEndpoint(e *Endpoint) *endpoint {
	c := &endpoint{Endpoint: e, methods: e.Match.Methods, anyHost: len(e.Match.Hosts) == 0}
	if len(c.methods) == 0 {
		c.methods = []string{"POST"}
	}
	for _, h := range e.Match.Hosts {
		h = strings.ToLower(h)
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			c.wildcardHosts = append(c.wildcardHosts, "."+rest)
			continue
		}
		if c.exactHosts == nil {
			c.exactHosts = make(map[string]struct{})
		}
		c.exactHosts[h] = struct{}{}
	}
	if p := e.Match.Path + e.Match.PathPrefix; p != "" {
		c.foldedPath = string(foldPath(nil, p))
	}
	c.setHeaders = append([]HeaderValue{{HeaderEndpoint, e.Name}}, e.SetHeaders...)
	c.removeHeaders = slices.Clone(e.RemoveHeaders)
	if cv, ok := e.Verifier.(CredentialVerifier); ok {
		c.removeHeaders = append(c.removeHeaders, cv.CredentialHeaders()...)
	}
	return c
}

// compareSpecificity orders exact paths before prefixes, longer prefixes
// before shorter ones, and endpoints restricted to exact hosts before
// wildcard hosts before any host.
func compareSpecificity(a, b *endpoint) int {
	if d := pathRank(a) - pathRank(b); d != 0 {
		return d
	}
	if d := len(b.Match.PathPrefix) - len(a.Match.PathPrefix); d != 0 {
		return d
	}
	return hostRank(a) - hostRank(b)
}

func pathRank(e *endpoint) int {
	switch {
	case e.Match.Path != "":
		return 0
	case e.Match.PathPrefix != "":
		return 1
	default:
		return 2
	}
}

func hostRank(e *endpoint) int {
	switch {
	case e.anyHost:
		return 2
	case len(e.wildcardHosts) > 0:
		return 1
	default:
		return 0
	}
}

// Revision identifies the policy set.
func (p *Policy) Revision() string { return p.revision }

// Endpoint returns the endpoint with the given name, or nil.
func (p *Policy) Endpoint(name string) *Endpoint {
	if e := p.byName[name]; e != nil {
		return e.Endpoint
	}
	return nil
}

// Endpoints returns the endpoints in matching order, most specific first.
func (p *Policy) Endpoints() []*Endpoint {
	out := make([]*Endpoint, len(p.routes))
	for i, e := range p.routes {
		out[i] = e.Endpoint
	}
	return out
}

// selectEndpoint finds the endpoint for r: the one Envoy names in its
// context extensions, else the most specific whose host, path and method
// match. When host and path match some endpoint but no such endpoint allows
// the method, it returns that endpoint with MethodNotAllowed.
//
// The path and authority must be in canonical form (see checkPath and
// canonicalHost), and a path that matches an endpoint only once folded
// (foldPath: another case, trailing dots, spaces or slashes) is refused
// rather than matched to a broader endpoint: hookguard must never read a
// request more loosely than the router in front of it or the upstream
// behind it. detail says what was wrong, without quoting the request.
func (p *Policy) selectEndpoint(r *Request) (e *endpoint, reason Reason, detail string) {
	path := r.Path
	perr := checkPath(path)
	if perr == errPathParameters {
		path = stripPathParameters(path)
	} else if perr != nil {
		return nil, NonCanonicalRequest, perr.Error()
	}
	if name, ok := r.ContextExtensions[EndpointExtension]; ok {
		e = p.byName[name]
		if e == nil {
			// The name comes from Envoy's route configuration, not from
			// the sender, but is bounded all the same: it goes to the log.
			return nil, NoEndpoint, fmt.Sprintf("the route names endpoint %.64q, which the policy does not define", name)
		}
	} else {
		host, err := canonicalHost(r.Host)
		if err != nil {
			return nil, NonCanonicalRequest, err.Error()
		}
		e, reason = p.matchRoute(host, path, r.Method)
		if reason == NonCanonicalRequest {
			return nil, reason, "path is a near miss of endpoint " + strconv.Quote(e.Name) + "'s (case, trailing dots, spaces or slashes)"
		}
		if e == nil {
			return nil, reason, ""
		}
	}
	if perr == errPathParameters && !e.Match.PathParameters {
		return e, NonCanonicalRequest, perr.Error()
	}
	if !e.allowsMethod(r.Method) {
		return e, MethodNotAllowed, ""
	}
	return e, OK, ""
}

// matchRoute finds the most specific endpoint whose host and path match,
// preferring one that allows method. An endpoint that comes first in that
// order and matches the path only once both are folded is a near miss: it
// is returned with NonCanonicalRequest. So is, with MethodNotAllowed, one
// that matches the path and allows GET when method is HEAD.
func (p *Policy) matchRoute(host, path, method string) (*endpoint, Reason) {
	var buf [256]byte
	var folded []byte // computed on the first endpoint with a path
	var wrongMethod *endpoint
	for _, e := range p.routes {
		if e.Match.Path == "" && e.Match.PathPrefix == "" && e.anyHost {
			// An endpoint without a match is reachable only by name.
			continue
		}
		if !e.matchesHost(host) {
			continue
		}
		if !e.matchesPath(path) {
			if e.foldedPath == "" {
				continue
			}
			if folded == nil {
				folded = foldPath(buf[:0], path)
			}
			if wrongMethod == nil && e.matchesFolded(folded) {
				return e, NonCanonicalRequest
			}
			continue
		}
		if e.allowsMethod(method) {
			return e, OK
		}
		if method == "HEAD" && e.allowsMethod("GET") {
			// Frameworks answer a HEAD with the GET handler: a HEAD
			// this endpoint would take as a GET is a near miss of it,
			// refused, never given to a broader endpoint.
			return e, MethodNotAllowed
		}
		if wrongMethod == nil {
			wrongMethod = e
		}
	}
	if wrongMethod != nil {
		return wrongMethod, MethodNotAllowed
	}
	return nil, NoEndpoint
}

func (e *endpoint) allowsMethod(m string) bool {
	return slices.Contains(e.methods, m)
}

func (e *endpoint) matchesHost(host string) bool {
	if e.anyHost {
		return true
	}
	if _, ok := e.exactHosts[host]; ok {
		return true
	}
	for _, suffix := range e.wildcardHosts {
		if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

func (e *endpoint) matchesPath(path string) bool {
	switch {
	case e.Match.Path != "":
		return path == e.Match.Path
	case e.Match.PathPrefix != "":
		return hasSegmentPrefix(path, e.Match.PathPrefix)
	default:
		return true
	}
}

// matchesFolded reports whether a folded request path matches the
// endpoint's folded path or prefix.
func (e *endpoint) matchesFolded(folded []byte) bool {
	if e.Match.Path != "" {
		return string(folded) == e.foldedPath
	}
	return hasSegmentPrefix(string(folded), e.foldedPath)
}

// hasSegmentPrefix reports whether prefix is a prefix of path made of whole
// segments: /hooks/github is one of /hooks/github/x, not of /hooks/githubx.
func hasSegmentPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || prefix[len(prefix)-1] == '/' || path[len(prefix)] == '/'
}
