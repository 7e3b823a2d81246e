package sdk_test

import (
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

const stripeSecret = "whsec_test_5f3b1c0e9a7d4b2f8e6c1a3d5b7f9e1c"

func TestStripeSDKSignsHookguardVerifies(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"evt_1","object":"event","api_version":"2025-03-31.basil"}`)
	v := verify.NewStripe([]authz.Secret{authz.Secret(stripeSecret)}, 0)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: now})
	r := request("", body, []authz.HeaderValue{{Name: "Stripe-Signature", Value: signed.Header}})
	_, err := v.Verify(r, now)
	mustOK(t, err)

	other := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_other", Timestamp: now})
	_, err = v.Verify(request("", body, []authz.HeaderValue{{Name: "Stripe-Signature", Value: other.Header}}), now)
	mustRefuse(t, err)

	// stripe-go accepts a future timestamp; hookguard does not.
	future := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeSecret, Timestamp: now.Add(time.Hour)})
	if err := webhook.ValidatePayload(body, future.Header, stripeSecret); err != nil {
		t.Logf("stripe-go now refuses future timestamps too: %v", err)
	}
	_, err = v.Verify(request("", body, []authz.HeaderValue{{Name: "Stripe-Signature", Value: future.Header}}), now)
	mustRefuse(t, err)
}

func TestHookguardSignsStripeSDKVerifies(t *testing.T) {
	body := []byte(`{"id":"evt_2","object":"event"}`)
	h, err := verify.Sign("stripe", authz.Secret(stripeSecret), verify.Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.ValidatePayloadWithTolerance(body, h[0].Value, stripeSecret, 5*time.Minute); err != nil {
		t.Fatalf("stripe-go refused hookguard's signature: %v", err)
	}
	if err := webhook.ValidatePayload(append(body, ' '), h[0].Value, stripeSecret); err == nil {
		t.Fatal("stripe-go accepted a mutated body")
	}
}
