package authz

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// HeaderPrefix starts the names of the headers hookguard sets on allowed
// requests. Every incoming header with this prefix, also spelled with "_"
// for "-", is removed, so a client cannot pass itself off as verified.
const HeaderPrefix = "x-hookguard-"

// The headers set on every allowed request.
const (
	// HeaderEndpoint carries the name of the endpoint that matched.
	HeaderEndpoint = "x-hookguard-endpoint"
	// HeaderVerified carries the signature scheme that verified the
	// request. It is absent when nothing was verified (a DRY_RUN endpoint
	// letting a failed request through).
	HeaderVerified = "x-hookguard-verified"
	// HeaderDeliveryID carries the provider's delivery id, when known.
	HeaderDeliveryID = "x-hookguard-delivery-id"
)

// HeaderValue is one header to set, replacing any value it had.
type HeaderValue struct {
	Name, Value string
}

// Outcome is what the policy decided for a request. It is the one reading
// of a [Decision] that the decision log, the metrics and `hookguard test`
// share. The set is closed.
//
// The outcome is the policy's verdict, enforced or not: a request that fails
// a check on a DRY_RUN endpoint is [OutcomeDeny] with [Decision.DryRun] set,
// and still goes upstream ([Answer.Forward]). That is what DRY_RUN is for:
// the log and the metrics show what enforcing would deny.
type Outcome string

// The outcomes.
const (
	// OutcomeAllow: every check passed (Reason [OK]).
	OutcomeAllow Outcome = "allow"
	// OutcomeDeny: a check failed, or hookguard could not decide. Enforced,
	// the client gets the reason's status; on a DRY_RUN endpoint the request
	// goes upstream unverified.
	OutcomeDeny Outcome = "deny"
	// OutcomeHandshake: the request was a provider's endpoint verification,
	// answered by hookguard itself (Reason [Handshake]).
	OutcomeHandshake Outcome = "handshake"
)

// Outcomes lists every outcome.
func Outcomes() []Outcome { return []Outcome{OutcomeAllow, OutcomeDeny, OutcomeHandshake} }

// Decision is the core's answer for one request: the verdict, what the log
// needs to explain it, and the ingredients of the HTTP answer, which
// [Decision.Answer] puts together.
type Decision struct {
	// Reason is why. For a DRY_RUN endpoint it is the reason enforcing
	// would have given, though the request goes upstream.
	Reason Reason
	// DryRun is true when the endpoint is in DRY_RUN mode.
	DryRun bool
	// RequestID is the request's id ([Request.ID]), echoed in a denial's
	// body so the sender can quote it.
	RequestID string
	// Endpoint is the name of the endpoint, empty when none matched.
	Endpoint string
	// Revision is the revision of the policy snapshot that decided, so a
	// decision can always be traced to one whole policy set.
	Revision string
	// Scheme is the endpoint's signature scheme, e.g. "github".
	Scheme string
	// Verified is true when the signature checked out.
	Verified bool
	// DeliveryID is the provider's delivery id, when the scheme has one.
	DeliveryID string
	// Detail explains a denial for the log, e.g. which header was
	// malformed. It never holds a secret, a signature or body bytes.
	Detail string
	// SetHeaders are set on the request when it goes upstream.
	SetHeaders []HeaderValue
	// RemoveHeaders are removed from the request when it goes upstream.
	RemoveHeaders []string
	// RetryAfterSeconds, when non-zero, is sent as Retry-After on deny.
	RetryAfterSeconds int
	// ResponseHeaders are sent to the client on deny, such as the
	// RateLimit headers of a rate_limited denial.
	ResponseHeaders []HeaderValue
	// Pointer is the JSON pointer of the first failing value of a
	// malformed_payload or schema_violation denial.
	Pointer string
	// Response is hookguard's own answer to a handshake (Reason Handshake):
	// the request is not forwarded, and the client gets this with 200.
	Response *Response
	// Nonce, on an allowed delivery of an endpoint with replay
	// protection, is the claim its nonce store now holds. Forgetting it
	// ([NonceStore.Forget]) lets the provider's retry through when the
	// upstream did not take the delivery.
	Nonce *Nonces
}

// Outcome returns the policy's verdict on the request. A Decision whose
// Reason is unset or unknown is [OutcomeDeny].
func (d Decision) Outcome() Outcome {
	switch d.Reason {
	case OK:
		return OutcomeAllow
	case Handshake:
		return OutcomeHandshake
	default:
		return OutcomeDeny
	}
}

// Answer is the HTTP answer to a request, in no proxy's terms: either the
// request goes upstream with header changes, or hookguard answers the client
// itself. A proxy adapter converts it to its own types and decides nothing.
type Answer struct {
	// Forward is true when the request goes upstream: it was allowed, or it
	// failed on a DRY_RUN endpoint. Then SetHeaders and RemoveHeaders
	// apply, and Header and Body are empty.
	Forward bool
	// Status is 200 when the request is forwarded (upstream answers it) or
	// is a handshake, and the reason's status ([Reason.Status]) for a
	// denial.
	Status int
	// Header is sent to the client with hookguard's own answer: its
	// content-type, and for a denial Retry-After and the RateLimit headers.
	Header []HeaderValue
	// Body is hookguard's own answer: the handshake's response, or a
	// denial's JSON body {"error", "endpoint", "request_id", "pointer"},
	// which carries names and ids only.
	Body []byte
	// SetHeaders are set on the forwarded request, replacing any value.
	SetHeaders []HeaderValue
	// RemoveHeaders are removed from the forwarded request.
	RemoveHeaders []string
}

// maxEchoed bounds the strings the caller influences that a denial's body
// echoes: the request id and a JSON pointer made of the payload's keys.
const maxEchoed = 128

// bounded cuts s to maxEchoed bytes.
func bounded(s string) string {
	if len(s) > maxEchoed {
		return s[:maxEchoed]
	}
	return s
}

// denyBody is the JSON body of every denial.
type denyBody struct {
	Error     Reason `json:"error"`
	Endpoint  string `json:"endpoint,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Pointer is the JSON pointer of the first failing value of a
	// malformed or schema-violating payload: a place, never a value.
	Pointer string `json:"pointer,omitempty"`
}

// Answer describes the HTTP answer the decision gives.
func (d Decision) Answer() Answer {
	switch outcome := d.Outcome(); {
	case outcome == OutcomeAllow || outcome == OutcomeDeny && d.DryRun:
		return Answer{Forward: true, Status: http.StatusOK, SetHeaders: d.SetHeaders, RemoveHeaders: d.RemoveHeaders}
	case outcome == OutcomeHandshake:
		a := Answer{Status: Handshake.Status()}
		if d.Response != nil {
			a.Header = []HeaderValue{{"content-type", d.Response.ContentType}}
			a.Body = d.Response.Body
		}
		return a
	}
	body, _ := json.Marshal(denyBody{Error: d.Reason, Endpoint: d.Endpoint, RequestID: bounded(d.RequestID), Pointer: bounded(d.Pointer)})
	a := Answer{
		Status: d.Reason.Status(),
		Header: make([]HeaderValue, 1, 2+len(d.ResponseHeaders)),
		Body:   body,
	}
	a.Header[0] = HeaderValue{"content-type", "application/json"}
	if d.RetryAfterSeconds > 0 {
		a.Header = append(a.Header, HeaderValue{"retry-after", strconv.Itoa(d.RetryAfterSeconds)})
	}
	a.Header = append(a.Header, d.ResponseHeaders...)
	return a
}
