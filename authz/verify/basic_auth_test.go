package verify

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

func init() {
	withoutSuite["basic_auth"] = "credentials sign nothing: a changed body still verifies, and there is no replay key; TestBasicAuth checks what applies"
}

func TestBasicAuth(t *testing.T) {
	v := NewBasicAuth([]authz.Secret{authz.Secret("hooks:old"), authz.Secret("hooks:new")})
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		name, header string
		want         authz.Reason
	}{
		{"new credentials", basic("hooks:new"), authz.OK},
		{"old credentials", basic("hooks:old"), authz.OK},
		{"lower-case scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("hooks:new")), authz.OK},
		{"wrong password", basic("hooks:guess"), authz.SignatureInvalid},
		{"password prefix", basic("hooks:ne"), authz.SignatureInvalid},
		{"user only", basic("hooks"), authz.SignatureInvalid},
		{"not base64", "Basic !!!", authz.SignatureInvalid},
		{"bearer", "Bearer hooks:new", authz.SignatureMissing},
		{"missing", "", authz.SignatureMissing},
		{"oversized", "Basic " + string(make([]byte, maxBasicAuthHeader)), authz.SignatureInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := authz.Header{}
			if c.header != "" {
				h["authorization"] = c.header
			}
			got, err := v.Verify(&authz.Request{Header: h}, time.Time{})
			checkReason(t, err, c.want)
			if got.ReplayKey != nil {
				t.Error("credentials must not yield a replay key")
			}
		})
	}
	if got := v.CredentialHeaders(); len(got) != 1 || got[0] != "authorization" {
		t.Errorf("credential headers %v", got)
	}
	h, err := Sign("basic_auth", authz.Secret("hooks:new"), Message{})
	if err != nil {
		t.Fatal(err)
	}
	r := request("POST", "", nil, h...)
	if _, err := v.Verify(r, time.Time{}); err != nil {
		t.Fatalf("signer's header refused: %v", err)
	}
	if _, err := buildBasicAuth(nil, mapEnv{}); err == nil {
		t.Error("no credentials accepted")
	}
}
