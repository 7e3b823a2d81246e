package extauthz

import (
	"net/netip"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/hookguard/hookguard/authz"
)

// partialBodyHeader is set by Envoy on the check request when it forwarded
// only part of the body (with_request_body.allow_partial_message).
const partialBodyHeader = "x-envoy-auth-partial-body"

// checkFields are the fields of a CheckRequest that hookguard reads, filled
// either from a decoded authv3.CheckRequest (fieldsFromCheck) or straight
// from the wire (decodeCheckRequest). Both then build the authz.Request the
// same way, in request, so the two paths cannot drift apart.
type checkFields struct {
	id, method, scheme, host, path, query string
	// headers is attributes.request.http.headers; nil when absent.
	headers authz.Header
	// headerMap is attributes.request.http.header_map, present when
	// hasHeaderMap (Envoy's encode_raw_headers).
	headerMap    []rawHeader
	hasHeaderMap bool
	// rawBody is nil when raw_body is absent; body is the string form sent
	// without pack_as_bytes.
	rawBody []byte
	body    string
	// principal, certificate and the socket address are of
	// attributes.source.
	principal, certificate string
	hasSocket              bool
	address                string
	port                   uint32
	contextExtensions      map[string]string
}

// rawHeader is one entry of an Envoy HeaderMap.
type rawHeader struct {
	key, value string
	// raw is the raw_value, used instead of value when hasRaw.
	raw    []byte
	hasRaw bool
}

// requestFromCheck converts Envoy's CheckRequest into the core's Request.
// It copies no header or body bytes: the Request refers to the CheckRequest's
// own map and slices.
func requestFromCheck(req *authv3.CheckRequest) *authz.Request {
	f := fieldsFromCheck(req)
	r := new(authz.Request)
	f.fill(r)
	return r
}

// fieldsFromCheck reads the fields hookguard uses from a decoded
// CheckRequest.
func fieldsFromCheck(req *authv3.CheckRequest) checkFields {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	f := checkFields{
		id:                h.GetId(),
		method:            h.GetMethod(),
		scheme:            h.GetScheme(),
		host:              h.GetHost(),
		path:              h.GetPath(),
		query:             h.GetQuery(),
		headers:           h.GetHeaders(),
		rawBody:           h.GetRawBody(),
		body:              h.GetBody(),
		principal:         attrs.GetSource().GetPrincipal(),
		certificate:       attrs.GetSource().GetCertificate(),
		contextExtensions: attrs.GetContextExtensions(),
	}
	if hm := h.GetHeaderMap(); hm != nil {
		f.hasHeaderMap = true
		f.headerMap = make([]rawHeader, len(hm.GetHeaders()))
		for i, hv := range hm.GetHeaders() {
			f.headerMap[i] = rawHeader{key: hv.GetKey(), value: hv.GetValue(), raw: hv.GetRawValue(), hasRaw: hv.GetRawValue() != nil}
		}
	}
	if sa := attrs.GetSource().GetAddress().GetSocketAddress(); sa != nil {
		f.hasSocket, f.address, f.port = true, sa.GetAddress(), sa.GetPortValue()
	}
	return f
}

// fill sets r, a zero Request, from the fields.
func (f *checkFields) fill(r *authz.Request) {
	*r = authz.Request{
		Method:            f.method,
		Scheme:            f.scheme,
		Host:              f.host,
		Header:            f.headers,
		Body:              f.rawBody,
		Principal:         f.principal,
		Certificate:       f.certificate,
		ContextExtensions: f.contextExtensions,
	}
	if len(r.Header) == 0 && f.hasHeaderMap {
		// Envoy's encode_raw_headers sends the header_map instead.
		r.Header = headersFromMap(f.headerMap)
	}
	if r.Body == nil && f.body != "" {
		// Without pack_as_bytes Envoy sends the body as a UTF-8 string with
		// invalid bytes replaced: signatures over binary bodies fail, which
		// is the correct, closed outcome.
		r.Body = []byte(f.body)
	}
	// Envoy puts the query string in path and leaves query empty.
	r.Path, r.Query, _ = strings.Cut(f.path, "?")
	if f.query != "" && r.Query == "" {
		r.Query = f.query
	}
	r.ID = r.Header.Get("x-request-id")
	if r.ID == "" {
		r.ID = f.id
	}
	r.BodyTruncated = r.Header.Get(partialBodyHeader) == "true"
	if f.hasSocket {
		if addr, err := netip.ParseAddr(f.address); err == nil {
			// Without the zone: prefix sets never contain a zoned address,
			// which would slip past a deny-only source rule.
			r.Source = netip.AddrPortFrom(addr.Unmap().WithZone(""), uint16(f.port))
		}
	}
}

// headersFromMap flattens a raw header map as Envoy flattens its headers
// field: lower-case names, repeated headers joined with ", ".
func headersFromMap(m []rawHeader) authz.Header {
	out := make(authz.Header, len(m))
	for _, hv := range m {
		name := strings.ToLower(hv.key)
		value := hv.value
		if hv.hasRaw {
			value = string(hv.raw)
		}
		if prev, ok := out[name]; ok {
			value = prev + ", " + value
		}
		out[name] = value
	}
	return out
}
