package extauthz_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/extauthz"
	"github.com/hookguard/hookguard/authz/internal/webhooktest"
)

// laxVerifier stands for a broken verifier: it accepts any request that
// carries its scheme's signature headers, whatever they sign.
type laxVerifier struct{ scheme string }

func (l laxVerifier) Scheme() string { return l.scheme }

func (l laxVerifier) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	for _, h := range webhooktest.SignatureHeaders(l.scheme) {
		if r.Header.Get(h) == "" {
			return authz.Verified{}, authz.SignatureMissing
		}
	}
	return authz.Verified{}, nil
}

// laxCredential is laxVerifier for a scheme whose signature is a
// credential, whose header the core removes as it does a real verifier's.
type laxCredential struct {
	laxVerifier
	headers []string
}

func (l laxCredential) CredentialHeaders() []string { return l.headers }

// TestFuzzOracleCatchesForgeries proves the fuzz targets' oracle can fail:
// with verifiers that check nothing, every change to what a signature
// covers is reported as a forgery, and a change to nothing it covers is
// not.
func TestFuzzOracleCatchesForgeries(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	var eps []*authz.Endpoint
	for _, d := range fx.deliveries {
		e := d.Endpoint
		var v authz.Verifier = laxVerifier{e.Verified}
		if h := credentialHeaders[e.Verified]; h != nil {
			v = laxCredential{laxVerifier{e.Verified}, h}
		}
		eps = append(eps, &authz.Endpoint{Name: e.Name, Verifier: v,
			Match: authz.Match{Hosts: []string{webhooktest.Host}, PathPrefix: e.Path(), Methods: []string{"GET", "POST"}}})
	}
	p, err := authz.NewPolicy("lax", eps)
	if err != nil {
		t.Fatal(err)
	}
	a := authz.NewAuthorizer(authz.Config{})
	a.SetPolicy(p)
	lax := extauthz.NewServer(a, extauthz.Config{})

	// A change to what each scheme covers: the body, and for schemes
	// that sign more, a timestamp, an id, the URL or the method.
	type http = authv3.AttributeContext_HttpRequest
	body := func(h *http) { h.RawBody[len(h.RawBody)/2] ^= 1 }
	changes := map[string]map[string]func(h *http){
		"stripe": {"timestamp": func(h *http) {
			h.Headers["stripe-signature"] = strings.Replace(h.Headers["stripe-signature"], "t=1", "t=2", 1)
		}},
		"twitch":                  {"id": func(h *http) { h.Headers["twitch-eventsub-message-id"] += "x" }},
		"slack":                   {"timestamp": func(h *http) { h.Headers["x-slack-request-timestamp"] += "0" }},
		"hmac":                    {"path": func(h *http) { h.Path += "/x" }},
		"http_message_signatures": {"method": func(h *http) { h.Method = "GET" }},
		"twilio":                  {"query": func(h *http) { h.Path += "?a=b" }},
		"token":                   {"token": func(h *http) { h.Headers["x-gitlab-token"] += "x" }},
		"basic_auth":              {"credentials": func(h *http) { h.Headers["authorization"] = "Basic aGc6eA==" }},
	}
	for _, d := range fx.deliveries {
		e := d.Endpoint
		progs := map[string]func(h *http){}
		if e.Scheme != "token" && e.Scheme != "basic_auth" { // a credential signs no body
			progs["body"] = body
		}
		for k, v := range changes[e.Scheme] {
			progs[k] = v
		}
		for name, change := range progs {
			req := d.Clone()
			change(req.GetAttributes().GetRequest().GetHttp())
			resp, _ := lax.Check(context.Background(), req)
			if resp.GetOkResponse() == nil {
				t.Errorf("%s %s: the lax verifier did not allow it (%s); the test proves nothing", e.Name, name, resp.GetDeniedResponse().GetBody())
				continue
			}
			if err := fx.verdict(req, resp); err == nil || !strings.Contains(err.Error(), "FORGERY") {
				t.Errorf("%s: a changed %s allowed, and the oracle says %v", e.Name, name, err)
			}
		}
		// An unrelated header is no forgery.
		req := d.Clone()
		req.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-other"] = "1"
		resp, _ := lax.Check(context.Background(), req)
		if err := fx.verdict(req, resp); err != nil {
			t.Errorf("%s: an unrelated header: %v", e.Name, err)
		}
	}
}

// TestFuzzOracleCatchesLooseMatches: an answer that forwards a
// non-canonical path or authority, lets a spoofed trust header through, or
// gives a near miss of a strict endpoint to the catch-all, fails the
// oracle.
func TestFuzzOracleCatchesLooseMatches(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	var d *webhooktest.Delivery
	for _, d = range fx.deliveries {
		if d.Endpoint.Name == "github" {
			break
		}
	}
	allowed := func() *authv3.CheckResponse {
		e := d.Endpoint
		return &authv3.CheckResponse{
			DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{
				"reason": structpb.NewStringValue("ok"), "endpoint": structpb.NewStringValue(e.Name)}},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{
				{Header: &corev3.HeaderValue{Key: authz.HeaderEndpoint, Value: e.Name}},
				{Header: &corev3.HeaderValue{Key: authz.HeaderVerified, Value: e.Verified}},
			}}},
		}
	}
	if err := fx.verdict(d.Request, allowed()); err != nil {
		t.Fatalf("the delivery itself: %v", err)
	}
	// The catch-all taking a near miss of a stricter endpoint.
	passed := func() *authv3.CheckResponse {
		return &authv3.CheckResponse{
			DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{
				"reason": structpb.NewStringValue("signature_missing"), "endpoint": structpb.NewStringValue(catchAll)}},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers:         []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: authz.HeaderEndpoint, Value: catchAll}}},
				HeadersToRemove: []string{"x-catch-all-token"},
			}},
		}
	}
	other := d.Clone()
	other.GetAttributes().GetRequest().GetHttp().Path = "/webhooks/unknown"
	if err := fx.verdict(other, passed()); err != nil {
		t.Fatalf("the catch-all taking a path of its own: %v", err)
	}
	for name, edit := range map[string]func(h *authv3.AttributeContext_HttpRequest){
		"case":         func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/webhooks/GitHub" },
		"trailing dot": func(h *authv3.AttributeContext_HttpRequest) { h.Path = "/webhooks/github./x" },
		"HEAD for GET": func(h *authv3.AttributeContext_HttpRequest) { h.Method, h.Path = "HEAD", "/webhooks/meta" },
	} {
		req := d.Clone()
		edit(req.GetAttributes().GetRequest().GetHttp())
		if err := fx.verdict(req, passed()); err == nil || !strings.Contains(err.Error(), "near miss") {
			t.Errorf("the catch-all took a near miss (%s): the oracle says %v", name, err)
		}
	}

	for name, ops := range map[string][]byte{
		"dot segment":     append([]byte{opAppendPath, 5}, "/./x/"...),
		"host with ports": append([]byte{opHost, 25}, "hooks.example.com:443:443"...),
		"trust header":    append(append([]byte{opSetHeader, 20}, "x_hookguard_verified"...), 1, 'y'),
	} {
		req := d.Clone()
		mutate(req, ops, fx.deliveries)
		if err := fx.verdict(req, allowed()); err == nil {
			t.Errorf("%s forwarded: the oracle did not object", name)
		}
	}
}
