package sdk_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

func TestHookguardSignsTwilioSDKVerifies(t *testing.T) {
	const token = "12345"
	validator := client.NewRequestValidator(token)
	v := verify.NewTwilio([]authz.Secret{authz.Secret(token)})

	t.Run("form", func(t *testing.T) {
		params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "From": {"+14158675309"}, "Digits": {"1234"}, "Body": {"hello world & more"}}
		body := []byte(params.Encode())
		const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
		h, err := verify.Sign("twilio", authz.Secret(token), verify.Message{URL: u, Body: body, ContentType: "application/x-www-form-urlencoded"})
		if err != nil {
			t.Fatal(err)
		}
		flat := map[string]string{}
		for k, vs := range params {
			flat[k] = vs[0]
		}
		if !validator.Validate(u, flat, h[0].Value) {
			t.Fatal("twilio-go refused hookguard's form signature")
		}
		// twilio-go also accepts the URL with the default port; so does
		// hookguard.
		if !validator.Validate("https://mycompany.com:443/myapp.php?foo=1&bar=2", flat, h[0].Value) {
			t.Fatal("twilio-go refused the URL with its port")
		}
		r := request("https://mycompany.com:443/myapp.php?foo=1&bar=2", body, h)
		r.Header["content-type"] = "application/x-www-form-urlencoded"
		_, err = v.Verify(r, time.Now())
		mustOK(t, err)
		flat["Digits"] = "1235"
		if validator.Validate(u, flat, h[0].Value) {
			t.Fatal("twilio-go accepted a changed parameter")
		}
	})
	t.Run("JSON", func(t *testing.T) {
		body := []byte(`{"property": "value", "boolean": true}`)
		sum := sha256.Sum256(body)
		u := "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=" + hex.EncodeToString(sum[:])
		h, err := verify.Sign("twilio", authz.Secret(token), verify.Message{URL: u, Body: body, ContentType: "application/json"})
		if err != nil {
			t.Fatal(err)
		}
		if !validator.ValidateBody(u, body, h[0].Value) {
			t.Fatal("twilio-go refused hookguard's JSON signature")
		}
		if validator.ValidateBody(u, append(body, ' '), h[0].Value) {
			t.Fatal("twilio-go accepted a changed body")
		}
		r := request(u, body, h)
		r.Header["content-type"] = "application/json"
		_, err = v.Verify(r, time.Now())
		mustOK(t, err)
	})
}
