package verify

import (
	"testing"

	"github.com/hookguard/hookguard/authz"
)

func TestMetaVector(t *testing.T) {
	// PROVIDERS.md vector 1: Meta signs as GitHub does.
	v := NewMeta(secrets("It's a Secret to Everybody"), nil)
	for _, c := range []struct {
		name, sig, body string
		want            authz.Reason
	}{
		{"published vector", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "Hello, World!", authz.OK},
		{"upper-case prefix", "SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "Hello, World!", authz.OK},
		{"sha1 prefix", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "Hello, World!", authz.SignatureInvalid},
		{"mutated body", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "Hello, World?", authz.SignatureInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := request("POST", "", []byte(c.body), authz.HeaderValue{Name: "X-Hub-Signature-256", Value: c.sig})
			_, err := v.Verify(r, t0)
			checkReason(t, err, c.want)
		})
	}
}

func init() { schemeSuites["meta"] = testMetaSuite }

func testMetaSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "meta",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewMeta(keys, nil)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"object":"whatsapp_business_account","entry":[]}`)},
		sigHeader: MetaSignatureHeader,
		malformed: []string{"sha256=", "sha256=zz", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
	})
}

func TestMetaHandshake(t *testing.T) {
	v := NewMeta(hmacKeys, secrets("old-token", "new-token"))
	cases := []struct {
		name, method, query string
		want                authz.Reason // OK: answered, or not a handshake when body is ""
		body                string
	}{
		{"subscribe", "GET", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=new-token", authz.OK, "1158201444"},
		{"old token during rotation", "GET", "hub.mode=subscribe&hub.challenge=42&hub.verify_token=old-token", authz.OK, "42"},
		{"wrong token", "GET", "hub.mode=subscribe&hub.challenge=42&hub.verify_token=guess", authz.SignatureInvalid, ""},
		{"no token", "GET", "hub.mode=subscribe&hub.challenge=42", authz.SignatureMissing, ""},
		{"no challenge", "GET", "hub.mode=subscribe&hub.verify_token=new-token", authz.SignatureInvalid, ""},
		{"other mode", "GET", "hub.mode=unsubscribe&hub.verify_token=new-token&hub.challenge=1", authz.OK, ""},
		{"POST is a delivery", "POST", "hub.mode=subscribe&hub.verify_token=new-token&hub.challenge=1", authz.OK, ""},
		{"GET without query", "GET", "", authz.OK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request(c.method, "https://hooks.example.com/meta?"+c.query, nil)
			resp, err := v.Handshake(r, t0)
			checkReason(t, err, c.want)
			switch {
			case c.body == "" && resp != nil:
				t.Fatalf("answered %q", resp.Body)
			case c.body != "" && (resp == nil || string(resp.Body) != c.body || resp.ContentType != "text/plain"):
				t.Fatalf("response = %+v, want %q", resp, c.body)
			}
		})
	}
	t.Run("no verify token configured", func(t *testing.T) {
		r := request("GET", "https://hooks.example.com/meta?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x", nil)
		_, err := NewMeta(hmacKeys, nil).Handshake(r, t0)
		checkReason(t, err, authz.SignatureInvalid)
	})
}
