package verify

import (
	"testing"

	"github.com/hookguard/hookguard/authz"
)

func FuzzTwilioForm(f *testing.F) {
	f.Add([]byte(twilioFormBody))
	f.Add([]byte("a=%zz&&=&b"))
	f.Add([]byte("a+b=c%20d"))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := twilioFormContent(body)
		if err == nil && len(out) > len(body) {
			t.Fatalf("signed content longer than the body: %d > %d", len(out), len(body))
		}
	})
}

func FuzzTwilioRequest(f *testing.F) {
	f.Add("mycompany.com", "/myapp.php", "foo=1&bar=2", []byte(twilioFormBody), twilioFormSig)
	f.Add("mycompany.com:443", "/", "bodySHA256=00", []byte("{}"), "AAAA")
	f.Fuzz(func(t *testing.T, host, path, query string, body []byte, sig string) {
		r := &authz.Request{Method: "POST", Scheme: "https", Host: host, Path: path, Query: query, Body: body,
			Header: authz.Header{"x-twilio-signature": sig, "content-type": formType}}
		v := NewTwilio(secrets(twilioToken))
		if _, err := v.Verify(r, t0); err != nil && reasonOf(err) == authz.Unavailable {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}
