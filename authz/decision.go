package authz

// HeaderPrefix starts the names of the headers hookguard sets on allowed
// requests. Every incoming header with this prefix is removed, so a client
// cannot pass itself off as verified.
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

// HeaderValue is one header to set on the upstream request, replacing any
// value it had.
type HeaderValue struct {
	Name, Value string
}

// Decision is the core's answer for one request.
type Decision struct {
	// Allow says whether the request goes upstream.
	Allow bool
	// Reason is why. For a DRY_RUN endpoint, a request that would have been
	// denied is allowed and Reason keeps the denial reason.
	Reason Reason
	// Status is the HTTP status to answer on deny (Reason.Status()).
	Status int
	// DryRun is true when the endpoint is in DRY_RUN mode.
	DryRun bool
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
	// SetHeaders are set on the upstream request (allow only).
	SetHeaders []HeaderValue
	// RemoveHeaders are removed from the upstream request (allow only).
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
}

// Denied reports whether the decision, enforced, would have denied the
// request: true for a denial and for a DRY_RUN pass of a failed request.
func (d *Decision) Denied() bool { return d.Reason != OK && d.Reason != Handshake }
