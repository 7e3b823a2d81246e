package verify

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// discordKeys returns n Ed25519 pairs: hex seeds to sign with, hex public
// keys as Discord's portal shows them.
func discordKeys(n int) (priv, pub []authz.Secret) {
	for i := 0; i < n; i++ {
		seed := make([]byte, ed25519.SeedSize)
		seed[31] = byte(i + 7)
		k := ed25519.NewKeyFromSeed(seed)
		priv = append(priv, authz.Secret(hex.EncodeToString(seed)))
		pub = append(pub, authz.Secret(hex.EncodeToString(k.Public().(ed25519.PublicKey))))
	}
	return priv, pub
}

func newDiscord(t *testing.T, keys ...authz.Secret) *Discord {
	t.Helper()
	v, err := NewDiscord(keys, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func init() { schemeSuites["discord"] = testDiscordSuite }

func testDiscordSuite(t *testing.T) {
	priv, pub := discordKeys(3)
	runSuite(t, suite{
		scheme: "discord",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return newDiscord(t, keys...)
		},
		signKeys: priv, verifyKeys: pub,
		msg:       Message{Body: []byte(`{"type":2,"data":{"name":"ping"}}`)},
		sigHeader: DiscordSignatureHeader, tsHeader: DiscordTimestampHeader,
		tolerance: DiscordDefaultTolerance,
		malformed: []string{"00", strings.Repeat("zz", 64), strings.Repeat("00", 64)},
	})
}

func TestDiscordPublicKeyForms(t *testing.T) {
	_, pub := discordKeys(1)
	raw, _ := hex.DecodeString(string(pub[0]))
	der, _ := x509.MarshalPKIXPublicKey(ed25519.PublicKey(raw))
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, k := range []string{string(pub[0]), strings.ToUpper(string(pub[0])), string(pemKey)} {
		if _, err := NewDiscord(secrets(k), 0); err != nil {
			t.Errorf("%.20q: %v", k, err)
		}
	}
	for _, k := range []string{"", "abcd", strings.Repeat("zz", 32)} {
		if _, err := NewDiscord(secrets(k), 0); err == nil {
			t.Errorf("%q accepted", k)
		}
	}
}

func TestDiscordHandshake(t *testing.T) {
	priv, pub := discordKeys(2)
	v := newDiscord(t, pub[0])
	ping := []byte(`{"application_id":"1","id":"2","token":"t","type":1,"user":{"id":"3"},"version":1}`)
	sign := func(key authz.Secret, body []byte) *authz.Request {
		h, err := signDiscord(key, Message{Body: body, Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		return request("POST", "", body, h...)
	}
	resp, err := v.Handshake(sign(priv[0], ping), t0)
	if err != nil || resp == nil || string(resp.Body) != `{"type":1}` || resp.ContentType != "application/json" {
		t.Fatalf("PING: %+v, %v", resp, err)
	}
	for _, c := range []struct {
		name string
		r    *authz.Request
		want authz.Reason
	}{
		// Discord sends PINGs with bad signatures and requires a 401.
		{"PING with a bad signature", sign(priv[1], ping), authz.SignatureInvalid},
		{"unsigned PING", request("POST", "", ping), authz.SignatureMissing},
		{"command is not a handshake", sign(priv[0], []byte(`{"type":2}`)), authz.OK},
		{"not JSON", sign(priv[0], []byte(`type=1`)), authz.OK},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := v.Handshake(c.r, t0)
			checkReason(t, err, c.want)
			if resp != nil {
				t.Fatal("answered")
			}
		})
	}
}

// A large body is never decoded as a PING before its signature is checked;
// it goes to ordinary verification, which refuses a bad signature.
func TestDiscordLargePingIsNotAHandshake(t *testing.T) {
	_, pub := discordKeys(1)
	d, err := NewDiscord(pub, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":1,"pad":"` + strings.Repeat("x", maxHandshakeBody) + `"}`)
	resp, err := d.Handshake(request("POST", "", body), t0)
	if resp != nil || err != nil {
		t.Fatalf("large PING handled as a handshake: %v %v", resp, err)
	}
}
