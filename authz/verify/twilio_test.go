package verify

import (
	"net/url"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// PROVIDERS.md vector 5, from Twilio's documentation and SDK tests.
const (
	twilioToken    = "12345"
	twilioURL      = "https://mycompany.com/myapp.php?foo=1&bar=2"
	twilioFormBody = "Digits=1234&CallSid=CA1234567890ABCDE&To=%2B18005551212&Caller=%2B14158675309&From=%2B14158675309&ReasonConferenceEnded=test&Reason=Participant"
	twilioFormSig  = "vOEb5UThFn24KEfnOFLQY2AE5FY="
	twilioJSONURL  = twilioURL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	twilioJSONBody = `{"property": "value", "boolean": true}`
	twilioJSONSig  = "a9nBmqA0ju/hNViExpshrM61xv4="
	formType       = "application/x-www-form-urlencoded"
)

func TestTwilioVectors(t *testing.T) {
	v := NewTwilio(secrets(twilioToken))
	cases := []struct {
		name, url, contentType, body, sig string
		want                              authz.Reason
	}{
		{"form vector", twilioURL, formType, twilioFormBody, twilioFormSig, authz.OK},
		{"form vector, charset", twilioURL, formType + "; charset=utf-8", twilioFormBody, twilioFormSig, authz.OK},
		{"form vector, parameters reordered", twilioURL, formType, "Reason=Participant&" + strings.Replace(twilioFormBody, "&Reason=Participant", "", 1), twilioFormSig, authz.OK},
		{"form vector, explicit port 443", "https://mycompany.com:443/myapp.php?foo=1&bar=2", formType, twilioFormBody, twilioFormSig, authz.OK},
		{"JSON vector", twilioJSONURL, "application/json", twilioJSONBody, twilioJSONSig, authz.OK},
		{"JSON vector, explicit port", strings.Replace(twilioJSONURL, "mycompany.com", "mycompany.com:443", 1), "application/json", twilioJSONBody, twilioJSONSig, authz.OK},
		{"JSON body mutated", twilioJSONURL, "application/json", `{"property": "value", "boolean": false}`, twilioJSONSig, authz.SignatureInvalid},
		{"JSON bodySHA256 malformed", twilioURL + "&bodySHA256=zz", "application/json", twilioJSONBody, twilioJSONSig, authz.SignatureInvalid},
		{"JSON body without bodySHA256", twilioURL, "application/json", twilioJSONBody, twilioJSONSig, authz.SignatureInvalid},
		{"form value mutated", twilioURL, formType, strings.Replace(twilioFormBody, "Digits=1234", "Digits=1235", 1), twilioFormSig, authz.SignatureInvalid},
		{"form parameter added", twilioURL, formType, twilioFormBody + "&Extra=1", twilioFormSig, authz.SignatureInvalid},
		{"query mutated", "https://mycompany.com/myapp.php?foo=1&bar=3", formType, twilioFormBody, twilioFormSig, authz.SignatureInvalid},
		{"path mutated", "https://mycompany.com/myapp2.php?foo=1&bar=2", formType, twilioFormBody, twilioFormSig, authz.SignatureInvalid},
		{"host mutated", "https://evil.example/myapp.php?foo=1&bar=2", formType, twilioFormBody, twilioFormSig, authz.SignatureInvalid},
		{"scheme mutated", "http://mycompany.com/myapp.php?foo=1&bar=2", formType, twilioFormBody, twilioFormSig, authz.SignatureInvalid},
		{"other port", "https://mycompany.com:8443/myapp.php?foo=1&bar=2", formType, twilioFormBody, twilioFormSig, authz.SignatureInvalid},
		{"malformed escape", twilioURL, formType, twilioFormBody + "&x=%zz", twilioFormSig, authz.SignatureInvalid},
		{"wrong token", twilioURL, formType, twilioFormBody, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", authz.SignatureInvalid},
		{"hex signature", twilioURL, formType, twilioFormBody, "bce11be544e1167db828478ce742d0636004e456", authz.SignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request("POST", c.url, []byte(c.body),
				authz.HeaderValue{Name: "X-Twilio-Signature", Value: c.sig},
				authz.HeaderValue{Name: "Content-Type", Value: c.contentType})
			got, err := v.Verify(r, t0)
			checkReason(t, err, c.want)
			if c.want == authz.OK && len(got.ReplayKey) != 32 {
				t.Fatal("replay key is not the SHA-256 of the signed content")
			}
		})
	}
	t.Run("signed with port, requested without", func(t *testing.T) {
		h, err := signTwilio(secrets(twilioToken)[0], Message{URL: "https://mycompany.com:443/myapp.php?foo=1&bar=2", Body: []byte(twilioFormBody), ContentType: formType})
		if err != nil {
			t.Fatal(err)
		}
		r := request("POST", twilioURL, []byte(twilioFormBody), h...)
		r.Header["content-type"] = formType
		_, err = v.Verify(r, t0)
		checkReason(t, err, authz.OK)
	})
	t.Run("too many parameters", func(t *testing.T) {
		body := strings.Repeat("a=1&", maxFormParams) + "b=2"
		r := request("POST", twilioURL, []byte(body), authz.HeaderValue{Name: "X-Twilio-Signature", Value: twilioFormSig}, authz.HeaderValue{Name: "Content-Type", Value: formType})
		_, err := v.Verify(r, t0)
		checkReason(t, err, authz.SignatureInvalid)
	})
}

func TestTwilioSigner(t *testing.T) {
	h, err := signTwilio(secrets(twilioToken)[0], Message{URL: twilioURL, Body: []byte(twilioFormBody), ContentType: formType})
	if err != nil || h[0].Value != twilioFormSig {
		t.Fatalf("form: %v %v", h, err)
	}
	h, err = signTwilio(secrets(twilioToken)[0], Message{URL: twilioJSONURL, Body: []byte(twilioJSONBody), ContentType: "application/json"})
	if err != nil || h[0].Value != twilioJSONSig {
		t.Fatalf("JSON: %v %v", h, err)
	}
	if _, err := signTwilio(secrets(twilioToken)[0], Message{URL: twilioURL, Body: []byte(twilioJSONBody)}); err == nil || !strings.Contains(err.Error(), "bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620") {
		t.Fatalf("JSON without bodySHA256: %v", err)
	}
}

func init() { schemeSuites["twilio"] = testTwilioSuite }

func testTwilioSuite(t *testing.T) {
	for _, c := range []struct{ name, url, contentType, body string }{
		{"form", "https://hooks.example.com/twilio/voice?tenant=a", formType, "CallSid=CA1&From=%2B15550001111&Body=hello+world"},
		{"JSON", "https://hooks.example.com/twilio/json?bodySHA256=" + hexString(sha256Sum([]byte(`{"a":1}`))), "application/json", `{"a":1}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			runSuite(t, suite{
				scheme: "twilio",
				verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
					return NewTwilio(keys)
				},
				signKeys: hmacKeys, verifyKeys: hmacKeys,
				msg:       Message{Body: []byte(c.body), URL: c.url, ContentType: c.contentType},
				sigHeader: TwilioSignatureHeader,
				malformed: []string{"=", "AAAA", "!!!!!!!!!!!!!!!!!!!!!!!!!!!="},
				prepare: func(m Message) Message {
					if c.contentType == "application/json" {
						p, _ := url.Parse(m.URL)
						q := p.Query()
						q.Set("bodySHA256", hexString(sha256Sum(m.Body)))
						p.RawQuery = q.Encode()
						m.URL = p.String()
					}
					return m
				},
				toRequest: func(h []authz.HeaderValue, m Message) *authz.Request {
					r := request("POST", m.URL, m.Body, h...)
					r.Header["content-type"] = c.contentType
					return r
				},
			})
		})
	}
}
