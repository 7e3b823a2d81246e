package sdk_test

import (
	"encoding/base64"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

func TestStandardWebhooksBothWays(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a standard webhooks test secret!"))
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewStandardWebhooks([]authz.Secret{authz.Secret(secret)}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
	now := time.Now()

	t.Run("SDK signs, hookguard verifies", func(t *testing.T) {
		sig, err := wh.Sign("msg_1", now, body)
		if err != nil {
			t.Fatal(err)
		}
		hs := []authz.HeaderValue{
			{Name: "webhook-id", Value: "msg_1"},
			{Name: "webhook-timestamp", Value: itoa(now.Unix())},
			{Name: "webhook-signature", Value: sig},
		}
		_, err = v.Verify(request("", body, hs), now)
		mustOK(t, err)
		_, err = v.Verify(request("", append(body, ' '), hs), now)
		mustRefuse(t, err)
		// Svix's names for the same headers.
		svix := []authz.HeaderValue{{Name: "svix-id", Value: "msg_1"}, {Name: "svix-timestamp", Value: itoa(now.Unix())}, {Name: "svix-signature", Value: sig}}
		_, err = v.Verify(request("", body, svix), now)
		mustOK(t, err)
	})
	t.Run("hookguard signs, SDK verifies", func(t *testing.T) {
		h, err := verify.Sign("standard_webhooks", authz.Secret(secret), verify.Message{Body: body, ID: "msg_2", Time: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, httpHeader(h)); err != nil {
			t.Fatalf("SDK refused hookguard's signature: %v", err)
		}
		if wh.Verify(append(body, ' '), httpHeader(h)) == nil {
			t.Fatal("SDK accepted a mutated body")
		}
	})
}
