package sdk_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/PagerDuty/go-pagerduty/webhookv3"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

func TestHookguardSignsPagerDutySDKVerifies(t *testing.T) {
	const secret = "pagerduty webhook secret"
	body := []byte(`{"event":{"id":"01","event_type":"incident.triggered"}}`)
	h, err := verify.Sign("pagerduty", authz.Secret(secret), verify.Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	check := func(secret string, sig string, body []byte) error {
		req := httptest.NewRequest("POST", "/pagerduty", bytes.NewReader(body))
		req.Header.Set("X-PagerDuty-Signature", sig)
		return webhookv3.VerifySignature(req, secret)
	}
	if err := check(secret, h[0].Value, body); err != nil {
		t.Fatalf("go-pagerduty refused hookguard's signature: %v", err)
	}
	// A rotation header, as PagerDuty sends while two secrets are active.
	other, _ := verify.Sign("pagerduty", authz.Secret("old secret"), verify.Message{Body: body})
	if err := check(secret, other[0].Value+","+h[0].Value, body); err != nil {
		t.Fatalf("go-pagerduty refused the rotation header: %v", err)
	}
	v := verify.NewPagerDuty([]authz.Secret{authz.Secret(secret)})
	_, err = v.Verify(request("", body, []authz.HeaderValue{{Name: "X-PagerDuty-Signature", Value: other[0].Value + "," + h[0].Value}}), timeZero)
	mustOK(t, err)
	if check(secret, h[0].Value, append(body, ' ')) == nil {
		t.Fatal("go-pagerduty accepted a mutated body")
	}
}
