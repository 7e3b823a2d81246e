package sdk_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
)

func TestHookguardSignsDiscordgoVerifies(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":1,"id":"1","application_id":"2","token":"t","version":1}`)
	h, err := verify.Sign("discord", authz.Secret(hex.EncodeToString(priv.Seed())), verify.Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/interactions", bytes.NewReader(body))
	req.Header = httpHeader(h)
	if !discordgo.VerifyInteraction(req, pub) {
		t.Fatal("discordgo refused hookguard's signature")
	}
	req = httptest.NewRequest("POST", "/interactions", bytes.NewReader(append(body, ' ')))
	req.Header = httpHeader(h)
	if discordgo.VerifyInteraction(req, pub) {
		t.Fatal("discordgo accepted a mutated body")
	}
	v, err := verify.NewDiscord([]authz.Secret{authz.Secret(hex.EncodeToString(pub))}, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := v.Handshake(request("", body, h), time.Now())
	if err != nil || resp == nil || string(resp.Body) != `{"type":1}` {
		t.Fatalf("PING: %v, %v", resp, err)
	}
}
