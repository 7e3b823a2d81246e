package extauthz

import (
	"errors"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hookguard/hookguard/authz"
)

// Field numbers of the CheckRequest fields hookguard reads
// (envoy/service/auth/v3/{external_auth,attribute_context}.proto and
// envoy/config/core/v3/{address,base}.proto).
const (
	fCheckAttributes = 1 // CheckRequest.attributes

	fAttrSource            = 1  // AttributeContext.source
	fAttrRequest           = 4  // AttributeContext.request
	fAttrContextExtensions = 10 // AttributeContext.context_extensions

	fPeerAddress     = 1 // Peer.address
	fPeerPrincipal   = 4 // Peer.principal
	fPeerCertificate = 5 // Peer.certificate

	fAddressSocket   = 1 // Address.socket_address (oneof address)
	fAddressPipe     = 2 // Address.pipe (oneof address)
	fAddressInternal = 3 // Address.envoy_internal_address (oneof address)

	fSocketAddress   = 2 // SocketAddress.address
	fSocketPortValue = 3 // SocketAddress.port_value (oneof port_specifier)
	fSocketNamedPort = 4 // SocketAddress.named_port (oneof port_specifier)

	fRequestHTTP = 2 // Request.http

	fHTTPID        = 1
	fHTTPMethod    = 2
	fHTTPHeaders   = 3
	fHTTPPath      = 4
	fHTTPHost      = 5
	fHTTPScheme    = 6
	fHTTPQuery     = 7
	fHTTPBody      = 11
	fHTTPRawBody   = 12
	fHTTPHeaderMap = 13

	fHeaderMapHeaders = 1 // HeaderMap.headers

	fHeaderKey      = 1 // HeaderValue.key, and a map entry's key
	fHeaderValue    = 2 // HeaderValue.value, and a map entry's value
	fHeaderRawValue = 3 // HeaderValue.raw_value
)

var (
	errWire = errors.New("extauthz: malformed CheckRequest")
	errUTF8 = errors.New("extauthz: CheckRequest string field contains invalid UTF-8")
)

// decodeCheckRequest fills f from the wire form of an
// envoy.service.auth.v3.CheckRequest, reading only the fields hookguard
// uses, with proto3's rules: the last of a repeated scalar wins, repeated
// messages merge, a oneof keeps its last member, a field of an unexpected
// wire type is unknown, and strings must be UTF-8. Fields hookguard does
// not read are skipped after checking their framing only, so a message the
// generic codec rejects for a bad string in such a field decodes here; that
// field never reaches a decision.
//
// Every string and byte slice in f refers into b, which the caller owns and
// must never modify afterwards: b is the one copy of the message the
// request keeps.
func decodeCheckRequest(b []byte, f *checkFields) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == fCheckAttributes && typ == protowire.BytesType {
			return decodeAttributes(v, f)
		}
		return nil
	})
}

func decodeAttributes(b []byte, f *checkFields) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fAttrSource:
			return decodePeer(v, f)
		case fAttrRequest:
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num == fRequestHTTP && typ == protowire.BytesType {
					return decodeHTTP(v, f)
				}
				return nil
			})
		case fAttrContextExtensions:
			if f.contextExtensions == nil {
				f.contextExtensions = make(map[string]string, 1)
			}
			return decodeMapEntry(v, f.contextExtensions)
		}
		return nil
	})
}

func decodePeer(b []byte, f *checkFields) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		var err error
		switch num {
		case fPeerAddress:
			return decodeAddress(v, f)
		case fPeerPrincipal:
			f.principal, err = utf8String(v)
		case fPeerCertificate:
			f.certificate, err = utf8String(v)
		}
		return err
	})
}

func decodeAddress(b []byte, f *checkFields) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fAddressSocket:
			if !f.hasSocket {
				// The oneof switches to socket_address: it starts empty;
				// a repeated socket_address merges into it.
				f.hasSocket, f.address, f.port = true, "", 0
			}
			return decodeSocketAddress(v, f)
		case fAddressPipe, fAddressInternal:
			f.hasSocket, f.address, f.port = false, "", 0
		}
		return nil
	})
}

func decodeSocketAddress(b []byte, f *checkFields) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errWire
		}
		b = b[n:]
		switch {
		case num == fSocketPortValue && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return errWire
			}
			f.port = uint32(x)
			b = b[n:]
			continue
		case num == fSocketAddress && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errWire
			}
			s, err := utf8String(v)
			if err != nil {
				return err
			}
			f.address = s
			b = b[n:]
			continue
		case num == fSocketNamedPort && typ == protowire.BytesType:
			// The port oneof switches to a name: no port number.
			f.port = 0
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return errWire
		}
		b = b[n:]
	}
	return nil
}

func decodeHTTP(b []byte, f *checkFields) error {
	if f.headers == nil {
		if n := countField(b, fHTTPHeaders); n > 0 {
			f.headers = make(authz.Header, n)
		}
	}
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		var err error
		switch num {
		case fHTTPID:
			f.id, err = utf8String(v)
		case fHTTPMethod:
			f.method, err = utf8String(v)
		case fHTTPHeaders:
			if f.headers == nil {
				f.headers = make(authz.Header, 1)
			}
			err = decodeMapEntry(v, f.headers)
		case fHTTPPath:
			f.path, err = utf8String(v)
		case fHTTPHost:
			f.host, err = utf8String(v)
		case fHTTPScheme:
			f.scheme, err = utf8String(v)
		case fHTTPQuery:
			f.query, err = utf8String(v)
		case fHTTPBody:
			f.body, err = utf8String(v)
		case fHTTPRawBody:
			// Full slice expression: an append to the body can never
			// write into the rest of the message.
			f.rawBody = v[:len(v):len(v)]
		case fHTTPHeaderMap:
			f.hasHeaderMap = true
			err = eachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num != fHeaderMapHeaders || typ != protowire.BytesType {
					return nil
				}
				h, err := decodeHeaderValue(v)
				f.headerMap = append(f.headerMap, h)
				return err
			})
		}
		return err
	})
}

func decodeHeaderValue(b []byte) (rawHeader, error) {
	var h rawHeader
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		var err error
		switch num {
		case fHeaderKey:
			h.key, err = utf8String(v)
		case fHeaderValue:
			h.value, err = utf8String(v)
		case fHeaderRawValue:
			h.raw, h.hasRaw = v[:len(v):len(v)], true
		}
		return err
	})
	return h, err
}

// decodeMapEntry adds one map<string, string> entry to m; a missing key or
// value is "", and a later entry for the same key wins.
func decodeMapEntry(b []byte, m map[string]string) error {
	var key, value string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errWire
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == fHeaderKey || num == fHeaderValue) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errWire
			}
			s, err := utf8String(v)
			if err != nil {
				return err
			}
			if num == fHeaderKey {
				key = s
			} else {
				value = s
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return errWire
		}
		b = b[n:]
	}
	m[key] = value
	return nil
}

// eachField calls fn with every field of the message b. For a
// length-delimited field v is its contents; for any other it is nil, and
// fn must ignore it (no field hookguard reads through eachField is a
// number).
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errWire
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errWire
		}
		b = b[n:]
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// countField counts the length-delimited fields numbered num in the
// message b, to size a map once. Malformed input counts what it can; the
// decoding proper reports it.
func countField(b []byte, num protowire.Number) int {
	count := 0
	for len(b) > 0 {
		n0, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return count
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(n0, typ, b)
		if n < 0 {
			return count
		}
		if n0 == num && typ == protowire.BytesType {
			count++
		}
		b = b[n:]
	}
	return count
}

// utf8String returns v as a string sharing v's memory, after checking, as
// proto3 requires of string fields, that it is UTF-8. The caller
// guarantees that v is never modified (see decodeCheckRequest).
func utf8String(v []byte) (string, error) {
	if len(v) == 0 {
		return "", nil
	}
	if !utf8.Valid(v) {
		return "", errUTF8
	}
	return unsafe.String(&v[0], len(v)), nil
}
