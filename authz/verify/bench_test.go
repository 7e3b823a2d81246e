package verify

import (
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// BenchmarkVerify measures the hot path of a few representative schemes
// with a 1 KiB body: one HMAC header, a signature list, a rebuilt URL with
// form parameters, and an RFC 9421 signature base.
func BenchmarkVerify(b *testing.B) {
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	form := []byte("CallSid=CA1&From=%2B15550001111&To=%2B15550002222&Body=" + string(body[:512]))
	sw, _ := NewStandardWebhooks(secrets(swSecret), nil, 0)
	httpsig, _ := NewHTTPMessageSignatures([]HTTPSigKey{{KeyID: "k", Algorithm: AlgHMACSHA256, Key: authz.Secret(rfcHMACKey)}}, nil, 0)
	cases := []struct {
		name   string
		v      authz.Verifier
		scheme string
		key    authz.Secret
		m      Message
	}{
		{"stripe", NewStripe(hmacKeys[:2], 0), "stripe", hmacKeys[1], Message{Body: body}},
		{"standard_webhooks", sw, "standard_webhooks", authz.Secret(swSecret), Message{Body: body}},
		{"twilio", NewTwilio(hmacKeys[:1]), "twilio", hmacKeys[0], Message{Body: form, URL: "https://hooks.example.com/twilio?x=1", ContentType: formType}},
		{"http_message_signatures", httpsig, "http_message_signatures", authz.Secret(rfcHMACKey), Message{Body: body, URL: "https://hooks.example.com/hook", KeyID: "k"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.m.Time = t0
			h, err := Sign(c.scheme, c.key, c.m)
			if err != nil {
				b.Fatal(err)
			}
			r := request("POST", c.m.URL, c.m.Body, h...)
			if c.m.ContentType != "" {
				r.Header["content-type"] = c.m.ContentType
			}
			if _, err := c.v.Verify(r, t0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.v.Verify(r, t0)
			}
		})
	}
}
