package authz

import (
	"strconv"
	"strings"
)

// checkBodyForwarded verifies that the body Envoy sent is the one the
// request declares. Without Envoy's with_request_body (Istio's
// includeRequestBodyInCheck) Envoy sends no body at all, and a verifier
// would check the signature of an empty one: a scheme that signs only the
// URL, as Twilio's does for JSON, would then accept any body the sender
// attached. So a declared content-length must equal the length received,
// and a chunked request must not arrive empty. A truncated body is
// [BodyTruncated], checked before.
func checkBodyForwarded(r *Request) (Reason, string) {
	if cl, ok := r.Header["content-length"]; ok {
		n, err := strconv.ParseUint(cl, 10, 63)
		if err != nil {
			return NonCanonicalRequest, "malformed content-length"
		}
		if n != uint64(len(r.Body)) {
			return BodyNotForwarded, "content-length " + strconv.FormatUint(n, 10) + " but " +
				strconv.Itoa(len(r.Body)) + " body bytes received: " + bodySettings
		}
		return OK, ""
	}
	if len(r.Body) == 0 && strings.Contains(strings.ToLower(r.Header["transfer-encoding"]), "chunked") {
		return BodyNotForwarded, "chunked body but no body bytes received: " + bodySettings
	}
	return OK, ""
}

// bodySettings names what to fix when the body does not arrive, for the
// log line of a body_not_forwarded denial.
const bodySettings = "set Envoy's ext_authz with_request_body (max_request_bytes, pack_as_bytes: true) " +
	"or Istio's includeRequestBodyInCheck (packAsBytes: true) with a limit that covers the body"
