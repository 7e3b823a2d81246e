package extauthz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hookguard/hookguard/authz"
)

// Field numbers of the CheckResponse fields hookguard writes.
const (
	fRespStatus          = 1 // CheckResponse.status (google.rpc.Status)
	fRespDenied          = 2 // CheckResponse.denied_response (oneof)
	fRespOK              = 3 // CheckResponse.ok_response (oneof)
	fRespDynamicMetadata = 4 // CheckResponse.dynamic_metadata (Struct)

	fStatusCode    = 1 // google.rpc.Status.code
	fStatusMessage = 2 // google.rpc.Status.message

	fDeniedStatus  = 1 // DeniedHttpResponse.status (HttpStatus)
	fDeniedHeaders = 2 // DeniedHttpResponse.headers
	fDeniedBody    = 3 // DeniedHttpResponse.body

	fHTTPStatusCode = 1 // envoy.type.v3.HttpStatus.code

	fOKHeaders         = 2 // OkHttpResponse.headers
	fOKHeadersToRemove = 5 // OkHttpResponse.headers_to_remove

	fOptionHeader       = 1 // HeaderValueOption.header
	fOptionAppendAction = 3 // HeaderValueOption.append_action

	fStructFields      = 1 // google.protobuf.Struct.fields (map<string, Value>)
	fValueStringValue  = 3 // google.protobuf.Value.string_value
	fMapEntryKey       = 1
	fMapEntryValue     = 2
	overwriteIfExists  = uint64(corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	okCode             = uint64(code.Code_OK)
	respInitialCap     = 512
	nestedLengthPrefix = 1 // bytes reserved for a nested message's length
)

// appendCheckResponse appends the wire form of the CheckResponse that
// responseFromAnswer builds for d and a: the same fields with the same
// values, written without building the message.
func appendCheckResponse(b []byte, d *authz.Decision, a *authz.Answer) []byte {
	if a.Forward {
		b = protowire.AppendTag(b, fRespStatus, protowire.BytesType)
		b = protowire.AppendVarint(b, 0) // Status{code: OK}: empty
		b, m := beginMessage(b, fRespOK)
		for _, h := range a.SetHeaders {
			b = appendHeaderOption(b, fOKHeaders, h.Name, h.Value)
		}
		for _, name := range a.RemoveHeaders {
			b = protowire.AppendTag(b, fOKHeadersToRemove, protowire.BytesType)
			b = protowire.AppendString(b, name)
		}
		b = endMessage(b, m)
		return appendDynamicMetadata(b, d)
	}
	b, m := beginMessage(b, fRespStatus)
	if c := uint64(grpcCode(a.Status)); c != okCode {
		b = protowire.AppendTag(b, fStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, c)
	}
	b = appendString(b, fStatusMessage, string(d.Reason))
	b = endMessage(b, m)

	b, m = beginMessage(b, fRespDenied)
	b, s := beginMessage(b, fDeniedStatus)
	if a.Status != 0 {
		b = protowire.AppendTag(b, fHTTPStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.Status))
	}
	b = endMessage(b, s)
	for _, h := range a.Header {
		b = appendHeaderOption(b, fDeniedHeaders, h.Name, h.Value)
	}
	if len(a.Body) > 0 {
		b = protowire.AppendTag(b, fDeniedBody, protowire.BytesType)
		b = protowire.AppendBytes(b, a.Body)
	}
	b = endMessage(b, m)
	return appendDynamicMetadata(b, d)
}

// appendDynamicMetadata appends the Struct of dynamicMetadata.
func appendDynamicMetadata(b []byte, d *authz.Decision) []byte {
	b, m := beginMessage(b, fRespDynamicMetadata)
	b = appendStringField(b, "reason", string(d.Reason))
	if d.Endpoint != "" {
		b = appendStringField(b, "endpoint", d.Endpoint)
	}
	if d.DeliveryID != "" {
		b = appendStringField(b, "delivery_id", d.DeliveryID)
	}
	if d.Nonce != nil && d.Outcome() == authz.OutcomeAllow {
		b = appendClaimField(b, d.Nonce)
	}
	return endMessage(b, m)
}

// appendClaimField appends the MetadataReplayClaim field, as
// dynamicMetadata does: the claim's text form, written in place; nothing
// when the claim has none.
func appendClaimField(b []byte, c *authz.Nonces) []byte {
	mark := len(b)
	b, e := beginMessage(b, fStructFields)
	b = appendString(b, fMapEntryKey, MetadataReplayClaim)
	b, v := beginMessage(b, fMapEntryValue)
	b, sv := beginMessage(b, fValueStringValue)
	b, err := c.AppendText(b)
	if err != nil {
		return b[:mark]
	}
	b = endMessage(b, sv)
	b = endMessage(b, v)
	return endMessage(b, e)
}

// appendStringField appends one Struct field holding a string Value.
func appendStringField(b []byte, key, value string) []byte {
	b, e := beginMessage(b, fStructFields)
	b = appendString(b, fMapEntryKey, key)
	b, v := beginMessage(b, fMapEntryValue)
	// A Value's string_value is a oneof member: written even when empty.
	b = protowire.AppendTag(b, fValueStringValue, protowire.BytesType)
	b = protowire.AppendString(b, value)
	b = endMessage(b, v)
	return endMessage(b, e)
}

// appendHeaderOption appends a HeaderValueOption that overwrites (see
// overwrite).
func appendHeaderOption(b []byte, num protowire.Number, name, value string) []byte {
	b, o := beginMessage(b, num)
	b, h := beginMessage(b, fOptionHeader)
	b = appendString(b, fHeaderKey, name)
	b = appendString(b, fHeaderValue, value)
	b = endMessage(b, h)
	b = protowire.AppendTag(b, fOptionAppendAction, protowire.VarintType)
	b = protowire.AppendVarint(b, overwriteIfExists)
	return endMessage(b, o)
}

// appendString appends a singular proto3 string field, omitted when
// empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// beginMessage starts the nested message field num: it appends the tag and
// room for a one-byte length, and returns where the contents start.
func beginMessage(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

// endMessage writes the length of the message begun at start, moving the
// contents when the length needs more than the one byte reserved.
func endMessage(b []byte, start int) []byte {
	n := len(b) - start
	size := protowire.SizeVarint(uint64(n))
	if size == nestedLengthPrefix {
		b[start-1] = byte(n)
		return b
	}
	extra := size - nestedLengthPrefix
	for range extra {
		b = append(b, 0)
	}
	copy(b[start+extra:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}
