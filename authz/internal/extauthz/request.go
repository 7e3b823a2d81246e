package extauthz

import (
	"net/netip"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/hookguard/hookguard/authz"
)

// partialBodyHeader is set by Envoy on the check request when it forwarded
// only part of the body (with_request_body.allow_partial_message).
const partialBodyHeader = "x-envoy-auth-partial-body"

// requestFromCheck converts Envoy's CheckRequest into the core's Request.
// It copies no header or body bytes: the Request refers to the CheckRequest's
// own map and slices.
func requestFromCheck(req *authv3.CheckRequest) *authz.Request {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	r := &authz.Request{
		Method:            h.GetMethod(),
		Scheme:            h.GetScheme(),
		Host:              h.GetHost(),
		Header:            h.GetHeaders(),
		Body:              h.GetRawBody(),
		Principal:         attrs.GetSource().GetPrincipal(),
		Certificate:       attrs.GetSource().GetCertificate(),
		ContextExtensions: attrs.GetContextExtensions(),
	}
	if len(r.Header) == 0 && h.GetHeaderMap() != nil {
		// Envoy's encode_raw_headers sends the header_map instead.
		r.Header = headersFromMap(h.GetHeaderMap())
	}
	if r.Body == nil && h.GetBody() != "" {
		// Without pack_as_bytes Envoy sends the body as a UTF-8 string with
		// invalid bytes replaced: signatures over binary bodies fail, which
		// is the correct, closed outcome.
		r.Body = []byte(h.GetBody())
	}
	// Envoy puts the query string in path and leaves query empty.
	r.Path, r.Query, _ = strings.Cut(h.GetPath(), "?")
	if q := h.GetQuery(); q != "" && r.Query == "" {
		r.Query = q
	}
	r.ID = r.Header.Get("x-request-id")
	if r.ID == "" {
		r.ID = h.GetId()
	}
	r.BodyTruncated = r.Header.Get(partialBodyHeader) == "true"
	if sa := attrs.GetSource().GetAddress().GetSocketAddress(); sa != nil {
		if addr, err := netip.ParseAddr(sa.GetAddress()); err == nil {
			// Without the zone: prefix sets never contain a zoned address,
			// which would slip past a deny-only source rule.
			r.Source = netip.AddrPortFrom(addr.Unmap().WithZone(""), uint16(sa.GetPortValue()))
		}
	}
	return r
}

// headersFromMap flattens a raw header map as Envoy flattens its headers
// field: lower-case names, repeated headers joined with ", ".
func headersFromMap(m *corev3.HeaderMap) authz.Header {
	out := make(authz.Header, len(m.GetHeaders()))
	for _, hv := range m.GetHeaders() {
		name := strings.ToLower(hv.GetKey())
		value := hv.GetValue()
		if raw := hv.GetRawValue(); raw != nil {
			value = string(raw)
		}
		if prev, ok := out[name]; ok {
			value = prev + ", " + value
		}
		out[name] = value
	}
	return out
}
