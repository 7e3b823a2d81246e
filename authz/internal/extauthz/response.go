package extauthz

import (
	"encoding/json"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookguard/hookguard/authz"
)

// maxEchoed bounds the client-influenced strings echoed in a deny body: the
// request id and a JSON pointer made of the payload's keys.
const maxEchoed = 128

func bounded(s string) string {
	if len(s) > maxEchoed {
		return s[:maxEchoed]
	}
	return s
}

// denyBody is the JSON body of every denial.
type denyBody struct {
	Error     authz.Reason `json:"error"`
	Endpoint  string       `json:"endpoint,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	// Pointer is the JSON pointer of the first failing value of a
	// malformed or schema-violating payload: a place, never a value.
	Pointer string `json:"pointer,omitempty"`
}

// responseFromDecision converts the core's Decision into Envoy's
// CheckResponse.
func responseFromDecision(d *authz.Decision, requestID string) *authv3.CheckResponse {
	resp := &authv3.CheckResponse{DynamicMetadata: dynamicMetadata(d)}
	if d.Allow {
		resp.Status = &rpcstatus.Status{Code: int32(code.Code_OK)}
		ok := &authv3.OkHttpResponse{HeadersToRemove: d.RemoveHeaders}
		for _, h := range d.SetHeaders {
			ok.Headers = append(ok.Headers, overwrite(h.Name, h.Value))
		}
		resp.HttpResponse = &authv3.CheckResponse_OkResponse{OkResponse: ok}
		return resp
	}
	if d.Response != nil {
		// A handshake hookguard answers itself: Envoy's "denied" response
		// is the only way to answer without going upstream.
		resp.Status = &rpcstatus.Status{Code: int32(code.Code_PERMISSION_DENIED), Message: string(d.Reason)}
		resp.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode_OK},
			Headers: []*corev3.HeaderValueOption{overwrite("content-type", d.Response.ContentType)},
			Body:    string(d.Response.Body),
		}}
		return resp
	}
	requestID = bounded(requestID)
	body, _ := json.Marshal(denyBody{Error: d.Reason, Endpoint: d.Endpoint, RequestID: requestID, Pointer: bounded(d.Pointer)})
	denied := &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)},
		Headers: []*corev3.HeaderValueOption{overwrite("content-type", "application/json")},
		Body:    string(body),
	}
	if d.RetryAfterSeconds > 0 {
		denied.Headers = append(denied.Headers, overwrite("retry-after", strconv.Itoa(d.RetryAfterSeconds)))
	}
	for _, h := range d.ResponseHeaders {
		denied.Headers = append(denied.Headers, overwrite(h.Name, h.Value))
	}
	resp.Status = &rpcstatus.Status{Code: int32(grpcCode(d.Status)), Message: string(d.Reason)}
	resp.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied}
	return resp
}

// overwrite sets a header, replacing any value: the append_action is explicit
// because the default of the deprecated append field changed across Envoy
// releases.
func overwrite(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// grpcCode is the status code of a denial. Envoy only needs it non-zero (the
// HTTP status comes from DeniedHttpResponse), but a meaningful code reads
// better in traces.
func grpcCode(httpStatus int) code.Code {
	switch httpStatus {
	case 401:
		return code.Code_UNAUTHENTICATED
	case 404:
		return code.Code_NOT_FOUND
	case 409:
		return code.Code_ALREADY_EXISTS
	case 429:
		return code.Code_RESOURCE_EXHAUSTED
	case 503:
		return code.Code_UNAVAILABLE
	default:
		return code.Code_PERMISSION_DENIED
	}
}

// dynamicMetadata is what Envoy's access log can read under the namespace
// envoy.filters.http.ext_authz.
func dynamicMetadata(d *authz.Decision) *structpb.Struct {
	fields := map[string]*structpb.Value{
		"reason": structpb.NewStringValue(string(d.Reason)),
	}
	if d.Endpoint != "" {
		fields["endpoint"] = structpb.NewStringValue(d.Endpoint)
	}
	if d.DeliveryID != "" {
		fields["delivery_id"] = structpb.NewStringValue(d.DeliveryID)
	}
	return &structpb.Struct{Fields: fields}
}
