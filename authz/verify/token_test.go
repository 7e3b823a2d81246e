package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

func init() {
	withoutSuite["token"] = "a token signs nothing: a changed body still verifies, and there is no replay key; TestToken checks what applies"
}

func TestToken(t *testing.T) {
	gitlab := NewToken("x-gitlab-token", "", "x-gitlab-event-uuid", []authz.Secret{authz.Secret("old-token"), authz.Secret("new-token")})
	bearer := NewToken("authorization", "Bearer ", "", []authz.Secret{authz.Secret("t0k3n")})
	tests := []struct {
		name   string
		v      *Token
		header authz.Header
		want   authz.Reason
	}{
		{"gitlab new token", gitlab, authz.Header{"x-gitlab-token": "new-token", "x-gitlab-event-uuid": "u-1"}, authz.OK},
		{"gitlab old token", gitlab, authz.Header{"x-gitlab-token": "old-token", "x-gitlab-event-uuid": "u-1"}, authz.OK},
		{"gitlab wrong token", gitlab, authz.Header{"x-gitlab-token": "guess", "x-gitlab-event-uuid": "u-1"}, authz.SignatureInvalid},
		{"gitlab token prefix only", gitlab, authz.Header{"x-gitlab-token": "new-toke", "x-gitlab-event-uuid": "u-1"}, authz.SignatureInvalid},
		{"gitlab token with suffix", gitlab, authz.Header{"x-gitlab-token": "new-token ", "x-gitlab-event-uuid": "u-1"}, authz.SignatureInvalid},
		{"gitlab missing", gitlab, authz.Header{"x-gitlab-event-uuid": "u-1"}, authz.SignatureMissing},
		{"bearer", bearer, authz.Header{"authorization": "Bearer t0k3n"}, authz.OK},
		{"bearer lower-case scheme", bearer, authz.Header{"authorization": "bearer t0k3n"}, authz.OK},
		{"bearer wrong", bearer, authz.Header{"authorization": "Bearer t0k3m"}, authz.SignatureInvalid},
		{"bearer empty token", bearer, authz.Header{"authorization": "Bearer "}, authz.SignatureInvalid},
		{"basic instead of bearer", bearer, authz.Header{"authorization": "Basic dDBrM24="}, authz.SignatureMissing},
		{"bare token without scheme", bearer, authz.Header{"authorization": "t0k3n"}, authz.SignatureMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.v.Verify(&authz.Request{Header: tt.header}, time.Time{})
			if got := authz.ReasonOf(err); got != tt.want {
				t.Fatalf("reason %s, want %s", got, tt.want)
			}
			if v.ReplayKey != nil {
				t.Error("a token must not yield a replay key")
			}
			if tt.v == gitlab && v.DeliveryID != "u-1" {
				t.Errorf("delivery id %q", v.DeliveryID)
			}
		})
	}
	if got := gitlab.CredentialHeaders(); len(got) != 1 || got[0] != "x-gitlab-token" {
		t.Errorf("credential headers %v", got)
	}
}

func TestSignTokenRoundTrip(t *testing.T) {
	headers, err := Sign("token", authz.Secret("tok"), Message{ID: "u-9"})
	if err != nil {
		t.Fatal(err)
	}
	h := authz.Header{}
	for _, hv := range headers {
		h[strings.ToLower(hv.Name)] = hv.Value
	}
	v := NewToken("x-gitlab-token", "", "x-gitlab-event-uuid", []authz.Secret{authz.Secret("tok")})
	got, err := v.Verify(&authz.Request{Header: h}, time.Time{})
	if err != nil || got.DeliveryID != "u-9" {
		t.Fatalf("%v %+v", err, got)
	}
}
