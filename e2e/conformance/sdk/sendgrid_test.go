package sdk_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

func TestHookguardSignsSendGridSDKVerifies(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pub, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(base64.StdEncoding.EncodeToString(spki))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"email":"a@example.com","event":"delivered","sg_event_id":"e1"}]` + "\r\n")
	h, err := verify.Sign("sendgrid", authz.Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})), verify.Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := eventwebhook.VerifySignature(pub, body, h[0].Value, h[1].Value)
	if err != nil || !ok {
		t.Fatalf("sendgrid-go refused hookguard's signature: %v", err)
	}
	if ok, _ := eventwebhook.VerifySignature(pub, append(body, ' '), h[0].Value, h[1].Value); ok {
		t.Fatal("sendgrid-go accepted a mutated body")
	}

	// The published vector through the SDK, as a check of the vector.
	const key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
	vecPub, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	vecBody := `[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]` + "\r\n"
	if ok, err := eventwebhook.VerifySignature(vecPub, []byte(vecBody), "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=", "1600112502"); err != nil || !ok {
		t.Fatalf("sendgrid-go refused the published vector: %v", err)
	}
}
