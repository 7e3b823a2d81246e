package authz_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

func TestOutcome(t *testing.T) {
	for _, r := range authz.Reasons() {
		want := authz.OutcomeDeny
		switch r {
		case authz.OK:
			want = authz.OutcomeAllow
		case authz.Handshake:
			want = authz.OutcomeHandshake
		}
		for _, dry := range []bool{false, true} {
			d := authz.Decision{Reason: r, DryRun: dry}
			if got := d.Outcome(); got != want {
				t.Errorf("%s (dry run %v): outcome %s, want %s", r, dry, got, want)
			}
		}
	}
	if got := (authz.Decision{}).Outcome(); got != authz.OutcomeDeny {
		t.Errorf("a decision without a reason is %s, want deny", got)
	}
}

func TestAnswer(t *testing.T) {
	set := []authz.HeaderValue{{Name: authz.HeaderEndpoint, Value: "e"}}
	remove := []string{"x-sig"}
	rl := []authz.HeaderValue{{Name: "ratelimit", Value: `"source";r=0;t=1`}}
	tests := []struct {
		name    string
		d       authz.Decision
		forward bool
		status  int
		header  []authz.HeaderValue
		body    map[string]string // the deny body, or nil
		raw     string            // the handshake body
	}{
		{"allow", authz.Decision{Reason: authz.OK, Endpoint: "e", SetHeaders: set, RemoveHeaders: remove}, true, 200, nil, nil, ""},
		{"dry run failure goes upstream", authz.Decision{Reason: authz.SignatureInvalid, DryRun: true, Endpoint: "e", SetHeaders: set, RemoveHeaders: remove, RetryAfterSeconds: 3}, true, 200, nil, nil, ""},
		{"deny", authz.Decision{Reason: authz.SignatureInvalid, Endpoint: "e", RequestID: "r-1", SetHeaders: set},
			false, 401, []authz.HeaderValue{{Name: "content-type", Value: "application/json"}},
			map[string]string{"error": "signature_invalid", "endpoint": "e", "request_id": "r-1"}, ""},
		{"no endpoint", authz.Decision{Reason: authz.NoEndpoint, RequestID: "r-2"},
			false, 404, []authz.HeaderValue{{Name: "content-type", Value: "application/json"}},
			map[string]string{"error": "no_endpoint", "request_id": "r-2"}, ""},
		{"rate limited", authz.Decision{Reason: authz.RateLimited, Endpoint: "e", RetryAfterSeconds: 2, ResponseHeaders: rl},
			false, 429, []authz.HeaderValue{{Name: "content-type", Value: "application/json"}, {Name: "retry-after", Value: "2"}, rl[0]},
			map[string]string{"error": "rate_limited", "endpoint": "e"}, ""},
		{"schema violation", authz.Decision{Reason: authz.SchemaViolation, Endpoint: "e", Pointer: "/a/0"},
			false, 422, []authz.HeaderValue{{Name: "content-type", Value: "application/json"}},
			map[string]string{"error": "schema_violation", "endpoint": "e", "pointer": "/a/0"}, ""},
		{"zero decision fails closed", authz.Decision{},
			false, 503, []authz.HeaderValue{{Name: "content-type", Value: "application/json"}},
			map[string]string{"error": ""}, ""},
		{"handshake", authz.Decision{Reason: authz.Handshake, Response: &authz.Response{ContentType: "text/plain", Body: []byte("c-1")}},
			false, 200, []authz.HeaderValue{{Name: "content-type", Value: "text/plain"}}, nil, "c-1"},
		{"handshake on a dry-run endpoint is still answered", authz.Decision{Reason: authz.Handshake, DryRun: true, Response: &authz.Response{ContentType: "text/plain", Body: []byte("c-2")}},
			false, 200, []authz.HeaderValue{{Name: "content-type", Value: "text/plain"}}, nil, "c-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.d.Answer()
			if a.Forward != tt.forward || a.Status != tt.status || !slices.Equal(a.Header, tt.header) {
				t.Fatalf("answer %+v, want forward %v status %d header %v", a, tt.forward, tt.status, tt.header)
			}
			if a.Forward {
				if !slices.Equal(a.SetHeaders, tt.d.SetHeaders) || !slices.Equal(a.RemoveHeaders, tt.d.RemoveHeaders) || a.Body != nil {
					t.Errorf("forwarded answer %+v", a)
				}
				return
			}
			if a.SetHeaders != nil || a.RemoveHeaders != nil {
				t.Errorf("an answer from hookguard changes upstream headers: %+v", a)
			}
			if tt.body == nil {
				if string(a.Body) != tt.raw {
					t.Errorf("body %q, want %q", a.Body, tt.raw)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal(a.Body, &got); err != nil {
				t.Fatalf("body %q: %v", a.Body, err)
			}
			if len(got) != len(tt.body) {
				t.Errorf("body %v, want %v", got, tt.body)
			}
			for k, v := range tt.body {
				if got[k] != v {
					t.Errorf("body %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestDenyBodyBoundsEchoedStrings(t *testing.T) {
	d := authz.Decision{Reason: authz.MalformedPayload, RequestID: strings.Repeat("x", 10_000) + `"}`, Pointer: "/" + strings.Repeat("k", 10_000)}
	body := d.Answer().Body
	if len(body) > 400 {
		t.Fatalf("deny body of %d bytes echoes the whole request id or pointer", len(body))
	}
	var v map[string]string
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
}
