package extauthz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookguard/hookguard/authz"
)

// responseFromAnswer converts the core's answer to a decision into Envoy's
// CheckResponse. It decides nothing: what goes upstream, with which
// headers, and what the client gets instead all come from a.
func responseFromAnswer(d *authz.Decision, a *authz.Answer) *authv3.CheckResponse {
	resp := &authv3.CheckResponse{DynamicMetadata: dynamicMetadata(d)}
	if a.Forward {
		resp.Status = &rpcstatus.Status{Code: int32(code.Code_OK)}
		ok := &authv3.OkHttpResponse{HeadersToRemove: a.RemoveHeaders}
		if len(a.SetHeaders) > 0 {
			ok.Headers = make([]*corev3.HeaderValueOption, len(a.SetHeaders))
			for i, h := range a.SetHeaders {
				ok.Headers[i] = overwrite(h.Name, h.Value)
			}
		}
		resp.HttpResponse = &authv3.CheckResponse_OkResponse{OkResponse: ok}
		return resp
	}
	// Envoy's denied response is its only way to answer without going
	// upstream, so a handshake hookguard answers itself is one too.
	denied := &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(a.Status)},
		Headers: make([]*corev3.HeaderValueOption, len(a.Header)),
		Body:    string(a.Body),
	}
	for i, h := range a.Header {
		denied.Headers[i] = overwrite(h.Name, h.Value)
	}
	resp.Status = &rpcstatus.Status{Code: int32(grpcCode(a.Status)), Message: string(d.Reason)}
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

// grpcCode is the status code of an answer hookguard gives itself. Envoy
// only needs it non-zero (the HTTP status comes from DeniedHttpResponse),
// but a meaningful code reads better in traces.
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

// MetadataNamespace is where Envoy keeps the dynamic metadata of a
// CheckResponse: its access logs read the fields there.
const MetadataNamespace = "envoy.filters.http.ext_authz"

// MetadataReplayClaim names the field that carries an allowed delivery's
// nonce claim in its text form (authz.Nonces.MarshalText). Envoy hands
// it back in its gRPC access log with the response code, and a retryable
// one makes hookguard forget the claim (package accesslog).
const MetadataReplayClaim = "replay_claim"

// dynamicMetadata is what Envoy's access log can read under
// MetadataNamespace.
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
	if d.Nonce != nil && d.Outcome() == authz.OutcomeAllow {
		// A claim without a text form (too many keys) is still held; it
		// only cannot be forgotten.
		if text, err := d.Nonce.MarshalText(); err == nil {
			fields[MetadataReplayClaim] = structpb.NewStringValue(string(text))
		}
	}
	return &structpb.Struct{Fields: fields}
}
