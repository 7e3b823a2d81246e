package sdk_test

import (
	"testing"

	"github.com/slack-go/slack"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

func TestHookguardSignsSlackSDKVerifies(t *testing.T) {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	body := []byte("token=x&team_id=T1&command=%2Fdeploy&text=prod")
	h, err := verify.Sign("slack", authz.Secret(secret), verify.Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	check := func(secret string, body []byte) error {
		sv, err := slack.NewSecretsVerifier(httpHeader(h), secret)
		if err != nil {
			return err
		}
		sv.Write(body)
		return sv.Ensure()
	}
	if err := check(secret, body); err != nil {
		t.Fatalf("slack-go refused hookguard's signature: %v", err)
	}
	if check("another secret", body) == nil || check(secret, append(body, '&')) == nil {
		t.Fatal("slack-go accepted a wrong secret or body")
	}
}
