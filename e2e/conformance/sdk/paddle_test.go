package sdk_test

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	paddle "github.com/PaddleHQ/paddle-go-sdk/v4"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

var timeZero time.Time

func TestHookguardSignsPaddleSDKVerifies(t *testing.T) {
	const secret = "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI"
	body := []byte(`{"event_id":"evt_01","event_type":"transaction.completed"}`)
	h, err := verify.Sign("paddle", authz.Secret(secret), verify.Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	check := func(secret string, body []byte) (bool, error) {
		req := httptest.NewRequest("POST", "/paddle", bytes.NewReader(body))
		req.Header.Set("Paddle-Signature", h[0].Value)
		return paddle.NewWebhookVerifier(secret, paddle.VerifierWithTimestampTolerance(5*time.Second)).Verify(req)
	}
	if ok, err := check(secret, body); err != nil || !ok {
		t.Fatalf("paddle-go-sdk refused hookguard's signature: %v", err)
	}
	if ok, _ := check("pdl_ntfset_other", body); ok {
		t.Fatal("paddle-go-sdk accepted a wrong secret")
	}
	if ok, _ := check(secret, append(body, ' ')); ok {
		t.Fatal("paddle-go-sdk accepted a mutated body")
	}
}
