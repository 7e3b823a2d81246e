package extauthz_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/extauthz"
	"github.com/hookguard/hookguard/authz/internal/webhooktest"
)

// The fuzz targets attack the whole Check path, from what Envoy sends to
// the CheckResponse, against the policy of package webhooktest (one
// endpoint per signature scheme, each with its own secret). Their oracle
// does not trust hookguard: a request may be forwarded only if what its
// endpoint's signature covers, as webhooktest.Covered reads it from the
// providers' specifications, is exactly what a delivery signed with that
// endpoint's secret covers. The inputs start from such deliveries, so the
// fuzzer holds valid signatures and can try to make them cover something
// else.

// t0 is when every fuzz delivery was signed; the clock reads a second
// later, and the committed seeds stay valid for ever.
var t0 = time.Unix(1_750_000_000, 0)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpora in testdata/fuzz from webhooktest's deliveries")

// fixture is a server deciding with webhooktest's policy and a broad,
// weaker catch-all, and the deliveries signed for it.
type fixture struct {
	server     *extauthz.Server
	deliveries []*webhooktest.Delivery // one per endpoint, in name order
	covered    map[string]string       // endpoint → its delivery's covered content
	scheme     map[string]string       // endpoint → scheme, as x-hookguard-verified says it
}

// catchAll is the weaker endpoint a confused request would fall to: every
// host, every path under /webhooks, GET and HEAD too, DRY_RUN, and a token
// no delivery carries. Every request it takes goes upstream unverified, so
// it must take none that a stricter endpoint's path or method nearly
// matches. Real policies have such endpoints: a partner's token endpoint
// on a whole prefix, a new endpoint in DRY_RUN.
const (
	catchAll     = "catch-all"
	catchAllYAML = `endpoints:
  - name: catch-all
    match: {path_prefix: /webhooks, methods: [GET, HEAD, POST]}
    verify: {token: {header: x-catch-all-token, secrets: [{env: HG_TOKEN_SECRET}]}}
    mode: DRY_RUN
`
)

func newFixture(tb testing.TB, dir string) *fixture {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, "catch-all.yaml"), []byte(catchAllYAML), 0o600); err != nil {
		tb.Fatal(err)
	}
	p, err := webhooktest.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	fx := &fixture{
		server:  extauthz.NewServer(webhooktest.NewAuthorizer(p, webhooktest.NewClock(t0.Add(time.Second))), extauthz.Config{}),
		covered: map[string]string{},
		scheme:  map[string]string{},
	}
	for _, e := range webhooktest.Endpoints() {
		d, err := e.Delivery(t0, "d-"+e.Name)
		if err != nil {
			tb.Fatal(err)
		}
		fx.deliveries = append(fx.deliveries, d)
		fx.covered[e.Name] = webhooktest.Covered(e.Verified, webhooktest.ViewOf(d.Request))
		fx.scheme[e.Name] = e.Verified
	}
	fx.scheme[catchAll] = "token"
	return fx
}

// Per-call bounds. Generous, so a loaded machine does not fail them; an
// algorithmic blow-up does.
const (
	maxCheckTime = time.Second
	// A check may allocate a fixed amount plus a multiple of its input:
	// verifiers hash, parse and copy the request a bounded number of
	// times.
	maxAllocFixed    = 256 << 10
	maxAllocPerInput = 16
)

// check runs one Check and asserts every invariant of a decision on it.
func (fx *fixture) check(t *testing.T, req *authv3.CheckRequest) {
	t.Helper()
	before := proto.Clone(req)
	size := proto.Size(req)
	var (
		resp *authv3.CheckResponse
		err  error
	)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	resp, err = fx.server.Check(context.Background(), req)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	allocated := ms1.TotalAlloc - ms0.TotalAlloc

	if err != nil || resp == nil {
		t.Fatalf("Check returned %v, %v: it must always answer", resp, err)
	}
	if elapsed > maxCheckTime {
		t.Errorf("Check took %v (limit %v)", elapsed, maxCheckTime)
	}
	if limit := uint64(maxAllocFixed + maxAllocPerInput*size); allocated > limit {
		t.Errorf("Check allocated %d bytes for a %d-byte request (limit %d)", allocated, size, limit)
	}
	if !proto.Equal(before, req) {
		t.Error("Check modified the request")
	}
	if err := fx.verdict(req, resp); err != nil {
		t.Fatal(err)
	}
}

// verdict returns what is wrong with resp as the answer to req, or nil.
func (fx *fixture) verdict(req *authv3.CheckRequest, resp *authv3.CheckResponse) error {
	md := resp.GetDynamicMetadata().GetFields()
	reason := authz.Reason(md["reason"].GetStringValue())
	endpoint := md["endpoint"].GetStringValue()
	if !slices.Contains(authz.Reasons(), reason) {
		return fmt.Errorf("reason %q is not one of authz.Reasons", reason)
	}
	if _, known := fx.scheme[endpoint]; endpoint != "" && !known {
		return fmt.Errorf("decision names endpoint %q, which the policy lacks", endpoint)
	}
	ok, denied := resp.GetOkResponse(), resp.GetDeniedResponse()
	if (ok == nil) == (denied == nil) {
		return fmt.Errorf("response has ok %v and denied %v: want exactly one", ok != nil, denied != nil)
	}
	v := webhooktest.ViewOf(req)

	if ok != nil {
		if resp.GetStatus().GetCode() != 0 {
			return fmt.Errorf("forwarded with status %v", resp.GetStatus())
		}
		set := map[string]string{}
		for _, h := range ok.GetHeaders() {
			set[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		}
		if err := trustHeadersRemoved(v, set, ok.GetHeadersToRemove()); err != nil {
			return err
		}
		if reason != authz.OK {
			// Only the DRY_RUN catch-all lets a failure through, and
			// never as verified.
			_, verified := set[authz.HeaderVerified]
			_, id := set[authz.HeaderDeliveryID]
			if endpoint != catchAll || verified || id || set[authz.HeaderEndpoint] != catchAll {
				return fmt.Errorf("forwarded with reason %s by %s, headers %v", reason, endpoint, set)
			}
			if !slices.Contains(ok.GetHeadersToRemove(), "x-catch-all-token") {
				return errors.New("the catch-all's token goes upstream")
			}
		} else {
			scheme := fx.scheme[endpoint]
			if got := webhooktest.Covered(scheme, v); got != fx.covered[endpoint] {
				return fmt.Errorf("FORGERY: endpoint %s (%s) allowed a request whose signature covers\n%q\nbut the only delivery signed with its secret covers\n%q",
					endpoint, scheme, got, fx.covered[endpoint])
			}
			if set[authz.HeaderEndpoint] != endpoint || set[authz.HeaderVerified] != scheme {
				return fmt.Errorf("allowed without its endpoint and scheme headers: %v", set)
			}
			for _, h := range credentialHeaders[scheme] {
				if !slices.Contains(ok.GetHeadersToRemove(), h) {
					return fmt.Errorf("the credential in %s goes upstream", h)
				}
			}
		}
	} else {
		if resp.GetStatus().GetCode() == 0 {
			return errors.New("denied with gRPC status OK")
		}
		status := int(denied.GetStatus().GetCode())
		switch {
		case reason == authz.Handshake:
			if status != 200 {
				return fmt.Errorf("handshake answered %d", status)
			}
		case status != reason.Status():
			return fmt.Errorf("%s answered %d, want %d", reason, status, reason.Status())
		default:
			var body struct{ Error string }
			if err := json.Unmarshal([]byte(denied.GetBody()), &body); err != nil || body.Error != string(reason) {
				return fmt.Errorf("deny body %q", denied.GetBody())
			}
		}
	}

	// A path or authority that is not canonical never matches an
	// endpoint, nor does a near miss of a stricter endpoint reach the
	// weaker one: hookguard must not read a request more loosely than the
	// router in front or the upstream behind.
	if endpoint == catchAll {
		if err := fx.nearMiss(req, v, endpoint); err != nil {
			return err
		}
	}
	if endpoint != "" && reason != authz.NonCanonicalRequest {
		if !webhooktest.CanonicalPath(v.Path) {
			return fmt.Errorf("non-canonical path %q matched endpoint %s (%s)", v.Path, endpoint, reason)
		}
		_, named := req.GetAttributes().GetContextExtensions()[authz.EndpointExtension]
		if c, known := webhooktest.CanonicalAuthority(v.Host); known && !c && !named {
			return fmt.Errorf("non-canonical authority %q matched endpoint %s (%s)", v.Host, endpoint, reason)
		}
	}
	return nil
}

// credentialHeaders are the headers of the schemes whose signature is a
// reusable credential, which must never go upstream.
var credentialHeaders = map[string][]string{"token": {"x-gitlab-token"}, "basic_auth": {"authorization"}}

// trustHeadersRemoved checks that every incoming header that passes for
// one of hookguard's own is removed or overwritten.
func trustHeadersRemoved(v webhooktest.View, set map[string]string, remove []string) error {
	for name := range v.Header {
		if trustHeader(name) {
			if _, own := set[name]; !own && !slices.Contains(remove, name) {
				return fmt.Errorf("incoming %q reaches the upstream: it passes for one of hookguard's headers", name)
			}
		}
	}
	return nil
}

// nearMiss reports a request the catch-all took although a stricter
// endpoint nearly matches it: on the strict endpoints' host, its path
// folded (webhooktest.FoldPath) is under a strict endpoint's path, or its
// method is HEAD where a strict endpoint takes GET, which frameworks
// serve with the GET handler. A route that names the endpoint is exempt.
func (fx *fixture) nearMiss(req *authv3.CheckRequest, v webhooktest.View, endpoint string) error {
	if _, named := req.GetAttributes().GetContextExtensions()[authz.EndpointExtension]; named {
		return nil
	}
	if host, ok := webhooktest.CanonicalHost(v.Host); !ok || host != webhooktest.Host {
		return nil
	}
	folded := webhooktest.FoldPath(v.Path)
	for _, d := range fx.deliveries {
		p := d.Endpoint.Path()
		if folded != p && !strings.HasPrefix(folded, p+"/") {
			continue
		}
		if v.Method == "POST" || v.Method == "HEAD" && slices.Contains(d.Endpoint.Methods(), "GET") {
			return fmt.Errorf("%s %q, a near miss of endpoint %s, went to the weaker %s", v.Method, v.Path, d.Endpoint.Name, endpoint)
		}
	}
	return nil
}

// trustHeader reports whether a lower-case header name passes for one of
// hookguard's own once "_" is read as "-", as CGI-style servers read it.
func trustHeader(name string) bool {
	return strings.HasPrefix(strings.ReplaceAll(name, "_", "-"), authz.HeaderPrefix)
}

// FuzzCheckRequest feeds protobuf-encoded CheckRequests to the adapter, as
// the gRPC server hands them over. Its seeds are webhooktest's signed
// deliveries, encoded.
func FuzzCheckRequest(f *testing.F) {
	fx := newFixture(f, f.TempDir())
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &authv3.CheckRequest{}
		if proto.Unmarshal(data, req) != nil {
			return // the gRPC server refuses it before hookguard sees it
		}
		fx.check(t, req)
	})
}

// FuzzDelivery mutates a signed delivery to one endpoint of each scheme:
// method, path, host, query, headers, body, the endpoint the route names,
// the encodings Envoy may use. ops is a small program of mutations (see
// mutate).
func FuzzDelivery(f *testing.F) {
	fx := newFixture(f, f.TempDir())
	f.Fuzz(func(t *testing.T, endpoint uint8, ops []byte) {
		req := fx.deliveries[int(endpoint)%len(fx.deliveries)].Clone()
		mutate(req, ops, fx.deliveries)
		fx.check(t, req)
	})
}

// program reads a mutation program: opcodes and their operands, each a
// byte or a length-prefixed string. Reading past the end yields zeros.
type program struct{ b []byte }

func (p *program) more() bool { return len(p.b) > 0 }

func (p *program) byte() byte {
	if len(p.b) == 0 {
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *program) str() string {
	n := int(p.byte())
	if n > len(p.b) {
		n = len(p.b)
	}
	s := string(p.b[:n])
	p.b = p.b[n:]
	return s
}

// The mutations. Each opcode's operands follow it.
const (
	opMethod        = iota // str: the method
	opTarget               // str: the whole request target (path and query)
	opAppendPath           // str: appended to the path
	opInsertPath           // byte position, str: inserted into the path
	opHost                 // str: the :authority
	opQuery                // str: the query
	opSetHeader            // str name, str value
	opDeleteHeader         // byte: index of the header, by name
	opFlipHeader           // byte index, byte position, byte xor: one byte of a header value
	opAppendHeader         // byte index, str: appended to a header value
	opPrependHeader        // byte index, str: prepended to a header value
	opJoinHeader           // byte index, str: ", "-joined after the value, as Envoy joins repeats
	opFlipBody             // byte position, byte xor
	opAppendBody           // str
	opTruncateBody         // byte: new length, as a fraction of 255
	opInsertBody           // byte position, str
	opRetarget             // byte: the path of another endpoint
	opNameEndpoint         // byte: the context extension names an endpoint; 255 names str
	opStringBody           // the body in the body field, as without pack_as_bytes
	opHeaderMap            // headers in header_map, as with encode_raw_headers
	opUpperName            // byte index: the header's name in upper case
	opContentLength        // str: content-length
	opPartialBody          // str: x-envoy-auth-partial-body
	opSource               // str: the source address
	opPrincipal            // str: the client certificate principal
	opScheme               // str: the URL scheme
	numOps
)

// mutate applies the program in ops to req.
func mutate(req *authv3.CheckRequest, ops []byte, deliveries []*webhooktest.Delivery) {
	h := req.GetAttributes().GetRequest().GetHttp()
	p := &program{ops}
	headerName := func() string {
		names := make([]string, 0, len(h.Headers))
		for k := range h.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		i := int(p.byte())
		if len(names) == 0 {
			return "x-empty"
		}
		return names[i%len(names)]
	}
	pos := func(n int) int { return int(p.byte()) * (n + 1) / 256 }
	splitTarget := func() (path, query string) {
		path, query, _ = strings.Cut(h.Path, "?")
		return path, query
	}
	setTarget := func(path, query string) {
		h.Path = path
		if query != "" {
			h.Path += "?" + query
		}
		h.Headers[":path"] = h.Path
	}
	for steps := 0; p.more() && steps < 64; steps++ {
		switch p.byte() % numOps {
		case opMethod:
			h.Method = p.str()
			h.Headers[":method"] = h.Method
		case opTarget:
			path, query, _ := strings.Cut(p.str(), "?")
			setTarget(path, query)
		case opAppendPath:
			path, query := splitTarget()
			setTarget(path+p.str(), query)
		case opInsertPath:
			path, query := splitTarget()
			i := pos(len(path))
			setTarget(path[:i]+p.str()+path[i:], query)
		case opHost:
			h.Host = p.str()
			h.Headers[":authority"] = h.Host
		case opQuery:
			path, _ := splitTarget()
			setTarget(path, p.str())
		case opSetHeader:
			name := p.str()
			h.Headers[name] = p.str()
		case opDeleteHeader:
			delete(h.Headers, headerName())
		case opFlipHeader:
			name := headerName()
			v := []byte(h.Headers[name])
			if i := pos(len(v) - 1); len(v) > 0 {
				v[min(i, len(v)-1)] ^= p.byte() | 1
			}
			h.Headers[name] = string(v)
		case opAppendHeader:
			name := headerName()
			h.Headers[name] += p.str()
		case opPrependHeader:
			name := headerName()
			h.Headers[name] = p.str() + h.Headers[name]
		case opJoinHeader:
			name := headerName()
			h.Headers[name] += ", " + p.str()
		case opFlipBody:
			if i := pos(len(h.RawBody) - 1); len(h.RawBody) > 0 {
				h.RawBody[min(i, len(h.RawBody)-1)] ^= p.byte() | 1
			}
		case opAppendBody:
			h.RawBody = append(h.RawBody, p.str()...)
		case opTruncateBody:
			h.RawBody = h.RawBody[:pos(len(h.RawBody))]
		case opInsertBody:
			i := pos(len(h.RawBody))
			s := p.str()
			h.RawBody = append(h.RawBody[:i:i], append([]byte(s), h.RawBody[i:]...)...)
		case opRetarget:
			_, query := splitTarget()
			setTarget(deliveries[int(p.byte())%len(deliveries)].Endpoint.Path(), query)
		case opNameEndpoint:
			i := int(p.byte())
			name := p.str()
			if i != 255 {
				name = deliveries[i%len(deliveries)].Endpoint.Name
			}
			if req.Attributes.ContextExtensions == nil {
				req.Attributes.ContextExtensions = map[string]string{}
			}
			req.Attributes.ContextExtensions[authz.EndpointExtension] = name
		case opStringBody:
			h.Body, h.RawBody = string(h.RawBody), nil
		case opHeaderMap:
			m := &corev3.HeaderMap{}
			names := make([]string, 0, len(h.Headers))
			for k := range h.Headers {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				m.Headers = append(m.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(h.Headers[k])})
			}
			h.HeaderMap, h.Headers = m, nil
			return // the header ops work on the map
		case opUpperName:
			name := headerName()
			v := h.Headers[name]
			delete(h.Headers, name)
			h.Headers[strings.ToUpper(name)] = v
		case opContentLength:
			h.Headers["content-length"] = p.str()
		case opPartialBody:
			h.Headers["x-envoy-auth-partial-body"] = p.str()
		case opSource:
			req.Attributes.Source.Address.GetSocketAddress().Address = p.str()
		case opPrincipal:
			req.Attributes.Source.Principal = p.str()
		case opScheme:
			h.Scheme = p.str()
		}
	}
}

// seedPrograms are mutation programs worth starting from, by name: each
// runs against every endpoint's delivery.
var seedPrograms = map[string][]byte{
	"path-dotdot":      append([]byte{opAppendPath, 9}, "/../../x/"...),
	"path-encoded":     append([]byte{opInsertPath, 128, 3}, "%2F"...),
	"path-case":        append([]byte{opTarget, 16}, "/webhooks/GITHUB"...),
	"host-dot":         append([]byte{opHost, 18}, "hooks.example.com."...),
	"host-ports":       append([]byte{opHost, 25}, "hooks.example.com:443:443"...),
	"flip-signature":   {opFlipHeader, 0, 200, 1},
	"flip-body":        {opFlipBody, 40, 2},
	"append-body":      append([]byte{opAppendBody, 1}, " "...),
	"join-header":      append([]byte{opJoinHeader, 3, 4}, "junk"...),
	"retarget":         {opRetarget, 1},
	"named":            {opNameEndpoint, 2, 0},
	"string-body":      {opStringBody},
	"header-map":       {opHeaderMap},
	"trust-header":     append(append([]byte{opSetHeader, 20}, "x_hookguard_verified"...), append([]byte{6}, "github"...)...),
	"content-length":   append([]byte{opContentLength, 1}, "0"...),
	"partial":          append([]byte{opPartialBody, 4}, "true"...),
	"upper-name":       {opUpperName, 5},
	"truncate":         {opTruncateBody, 128},
	"method-lower":     append([]byte{opMethod, 4}, "post"...),
	"query":            append([]byte{opQuery, 14}, "bodySHA256=00&"...),
	"scheme":           append([]byte{opScheme, 4}, "http"...),
	"delete-header":    {opDeleteHeader, 2},
	"prepend-space":    append([]byte{opPrependHeader, 0, 1}, " "...),
	"source-zone":      append([]byte{opSource, 12}, "fe80::1%eth0"...),
	"named-unknown":    append([]byte{opNameEndpoint, 255, 4}, "nope"...),
	"insert-body":      append([]byte{opInsertBody, 0, 2}, "{}"...),
	"principal":        append([]byte{opPrincipal, 5}, "spiffe"...),
	"append-header":    append([]byte{opAppendHeader, 0, 1}, "="...),
	"path-params":      append([]byte{opAppendPath, 4}, ";x=1"...),
	"path-trailing":    append([]byte{opAppendPath, 4}, "%20"...),
	"host-userinfo":    append([]byte{opHost, 22}, "u@hooks.example.com"...),
	"header-map-flip":  {opFlipHeader, 0, 200, 1, opHeaderMap},
	"retarget-replace": {opRetarget, 3, opFlipBody, 10, 4},
}

// seedFile is the Go fuzzing corpus encoding of values.
func seedFile(values ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		}
	}
	return []byte(b.String())
}

// seeds returns the seed corpora, by target and file name: for
// FuzzCheckRequest every delivery and handshake encoded, also with headers
// in header_map; for FuzzDelivery every delivery unchanged, and each
// program of seedPrograms against three endpoints.
func seeds(t *testing.T) map[string]map[string][]byte {
	fx := newFixture(t, t.TempDir())
	out := map[string]map[string][]byte{"FuzzCheckRequest": {}, "FuzzDelivery": {}}
	enc := func(name string, req *authv3.CheckRequest) {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		out["FuzzCheckRequest"][name] = seedFile(b)
	}
	for i, d := range fx.deliveries {
		name := d.Endpoint.Name
		enc("valid-"+name, d.Request)
		r := d.Clone()
		mutate(r, []byte{opHeaderMap}, fx.deliveries)
		enc("headermap-"+name, r)
		if hs, ok := d.Endpoint.Handshake(t0); ok {
			enc("handshake-"+name, hs.Request)
		}
		out["FuzzDelivery"]["unchanged-"+name] = seedFile(byte(i), []byte(nil))
	}
	// HEAD where an endpoint takes GET: meta's.
	for i, d := range fx.deliveries {
		if d.Endpoint.Name == "meta" {
			out["FuzzDelivery"]["method-head-meta"] = seedFile(byte(i), append([]byte{opMethod, 4}, "HEAD"...))
		}
	}
	// Every other program against three endpoints, a different three
	// for each, which keeps the corpus small.
	progs := make([]string, 0, len(seedPrograms))
	for prog := range seedPrograms {
		progs = append(progs, prog)
	}
	sort.Strings(progs)
	for j, prog := range progs {
		for k := range 3 {
			i := (3*j + k) % len(fx.deliveries)
			out["FuzzDelivery"][prog+"-"+fx.deliveries[i].Endpoint.Name] = seedFile(byte(i), seedPrograms[prog])
		}
	}
	return out
}

// TestFuzzSeeds keeps the committed seed corpora in step with webhooktest:
// every valid-* seed of FuzzCheckRequest must still be allowed, and every
// seed file must be one seeds makes. -update-seeds rewrites them.
func TestFuzzSeeds(t *testing.T) {
	want := seeds(t)
	for target, files := range want {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateSeeds {
			os.RemoveAll(dir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(dir, "seed-"+name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		for name := range files {
			if _, err := os.Stat(filepath.Join(dir, "seed-"+name)); err != nil {
				t.Errorf("%s: seed %s missing: run go test -run TestFuzzSeeds -update-seeds", target, name)
			}
		}
	}
	fx := newFixture(t, t.TempDir())
	valid := 0
	for name, b := range want["FuzzCheckRequest"] {
		if !strings.HasPrefix(name, "valid-") {
			continue
		}
		committed, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzCheckRequest", "seed-"+name))
		if err != nil {
			continue // reported above
		}
		if string(committed) != string(b) && !strings.HasSuffix(name, "sendgrid") {
			// ECDSA signatures are randomised: sendgrid's seed differs on
			// every run, and stays valid.
			t.Errorf("seed %s is stale: run go test -run TestFuzzSeeds -update-seeds", name)
		}
		raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(string(committed), "\n", 2)[1], "[]byte("), ")\n"))
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		req := &authv3.CheckRequest{}
		if err := proto.Unmarshal([]byte(raw), req); err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		resp, _ := fx.server.Check(context.Background(), req)
		if resp.GetOkResponse() == nil {
			t.Errorf("seed %s is no longer allowed: %v", name, resp.GetDeniedResponse().GetBody())
		}
		valid++
	}
	if valid != len(fx.deliveries) {
		t.Errorf("%d valid seeds, want one per endpoint (%d)", valid, len(fx.deliveries))
	}
}
