package authz

import (
	"errors"
	"net/http"
)

// Reason says why a request was allowed or denied. The set is closed: every
// reason hookguard can give is declared here, and [Reason.Status] is the one
// place that maps a reason to an HTTP status.
//
// A Reason is also an error, so a [Verifier] can return one (possibly wrapped
// with detail) and the core recovers it with [ReasonOf].
type Reason string

// The reasons.
const (
	// OK: every check passed.
	OK Reason = "ok"
	// NoEndpoint: no endpoint matches the request, or Envoy named an
	// endpoint the policy does not define.
	NoEndpoint Reason = "no_endpoint"
	// MethodNotAllowed: the endpoint matches but not with this method.
	MethodNotAllowed Reason = "method_not_allowed"
	// NonCanonicalRequest: the path or :authority is not in canonical form
	// (dot segments, doubled slashes, needless or encoded-separator
	// escapes, ;parameters an endpoint does not accept, a malformed
	// authority), or the path is a near miss of an endpoint's (another
	// case, trailing dots, spaces or slashes). Such requests are refused,
	// never matched loosely; see the canonical form in package doc.
	NonCanonicalRequest Reason = "non_canonical_request"
	// SourceNotAllowed: the source address is not allowed.
	SourceNotAllowed Reason = "source_not_allowed"
	// ClientCertificateRequired: the endpoint requires mTLS and the request
	// came without a client certificate.
	ClientCertificateRequired Reason = "client_certificate_required"
	// ClientIdentityDenied: the client certificate's identity is not
	// allowed.
	ClientIdentityDenied Reason = "client_identity_denied"
	// RateLimited: the source is over its rate or out of failed
	// verifications, or the endpoint is over its rate of verified
	// deliveries.
	RateLimited Reason = "rate_limited"
	// SignatureMissing: the scheme's signature headers are absent.
	SignatureMissing Reason = "signature_missing"
	// SignatureInvalid: a signature is present but malformed or matches no
	// secret.
	SignatureInvalid Reason = "signature_invalid"
	// TimestampOutOfWindow: the signed timestamp is too old or too far in
	// the future for the scheme's tolerance.
	TimestampOutOfWindow Reason = "timestamp_out_of_window"
	// Replayed: the same signed delivery was already accepted within the
	// replay window.
	Replayed Reason = "replayed"
	// BodyTruncated: Envoy sent only part of the body, which can never
	// verify.
	BodyTruncated Reason = "body_truncated"
	// BodyNotForwarded: the request declares a body (content-length, or a
	// chunked transfer) that Envoy did not send, or sent with another
	// length: Envoy's with_request_body, or Istio's
	// includeRequestBodyInCheck, is missing or too small. Nothing is
	// verified over a body that is not the one forwarded; the provider
	// retries once the gateway is fixed.
	BodyNotForwarded Reason = "body_not_forwarded"
	// BodyTooLarge: the body is larger than the endpoint accepts.
	BodyTooLarge Reason = "body_too_large"
	// UnsupportedMediaType: the content type is not one the endpoint
	// accepts.
	UnsupportedMediaType Reason = "unsupported_media_type"
	// MalformedPayload: the body is not well-formed JSON in UTF-8, or is
	// nested too deep.
	MalformedPayload Reason = "malformed_payload"
	// SchemaViolation: the body does not satisfy its JSON Schema.
	SchemaViolation Reason = "schema_violation"
	// Handshake: the request was a provider's endpoint verification, and
	// hookguard answered it itself (Decision.Response).
	Handshake Reason = "handshake"
	// Unavailable: hookguard could not decide (an internal error or an
	// unreachable dependency). The provider should retry later.
	Unavailable Reason = "unavailable"
)

// Error makes a Reason usable as an error.
func (r Reason) Error() string { return string(r) }

// Status is the HTTP status answered for the reason.
func (r Reason) Status() int {
	switch r {
	case OK, Handshake:
		return http.StatusOK
	case NoEndpoint:
		return http.StatusNotFound
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case SignatureMissing, SignatureInvalid, TimestampOutOfWindow, ClientCertificateRequired:
		return http.StatusUnauthorized
	case SourceNotAllowed, ClientIdentityDenied:
		return http.StatusForbidden
	case RateLimited:
		return http.StatusTooManyRequests
	case BodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case UnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case MalformedPayload, NonCanonicalRequest:
		return http.StatusBadRequest
	case SchemaViolation:
		return http.StatusUnprocessableEntity
	case Replayed:
		return http.StatusConflict
	case BodyTruncated:
		return http.StatusRequestEntityTooLarge
	case BodyNotForwarded:
		// A gateway misconfiguration, not the sender's fault: providers
		// retry a 503, and the delivery goes through once it is fixed.
		return http.StatusServiceUnavailable
	default:
		// Unavailable, and any reason this switch does not know: a reason
		// without a status is a bug, and a bug must not answer anything
		// that looks like success or a permanent refusal.
		return http.StatusServiceUnavailable
	}
}

// Reasons lists every reason, in declaration order.
func Reasons() []Reason {
	return []Reason{OK, NoEndpoint, MethodNotAllowed, NonCanonicalRequest, SourceNotAllowed,
		ClientCertificateRequired, ClientIdentityDenied, RateLimited,
		SignatureMissing, SignatureInvalid, TimestampOutOfWindow, Replayed,
		BodyTruncated, BodyNotForwarded, BodyTooLarge, UnsupportedMediaType, MalformedPayload,
		SchemaViolation, Handshake, Unavailable}
}

// ReasonOf returns the Reason carried by err: err itself or one it wraps.
// Any other error, such as an I/O failure, is [Unavailable], so an unexpected
// error denies.
func ReasonOf(err error) Reason {
	if err == nil {
		return OK
	}
	if r, ok := errors.AsType[Reason](err); ok {
		return r
	}
	return Unavailable
}
