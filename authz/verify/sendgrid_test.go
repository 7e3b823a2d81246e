package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// PROVIDERS.md vector 6, from sendgrid-go's tests.
const (
	sendgridKey  = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
	sendgridTS   = "1600112502"
	sendgridSig  = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
	sendgridBody = `[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]` + "\r\n"
)

// highS returns the other spelling of a DER ECDSA signature: (r, n-s).
func highS(t *testing.T, sig string) string {
	der, _ := base64.StdEncoding.DecodeString(sig)
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	rs.S.Sub(elliptic.P256().Params().N, rs.S)
	out, _ := asn1.Marshal(rs)
	return base64.StdEncoding.EncodeToString(out)
}

func TestSendGridVector(t *testing.T) {
	at := time.Unix(1600112502, 0)
	v, err := NewSendGrid(secrets(sendgridKey), 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ts, sig, body string
		now                 time.Time
		want                authz.Reason
	}{
		{"published vector", sendgridTS, sendgridSig, sendgridBody, at, authz.OK},
		{"high-s spelling", sendgridTS, highS(t, sendgridSig), sendgridBody, at, authz.OK},
		{"without the trailing CRLF", sendgridTS, sendgridSig, sendgridBody[:len(sendgridBody)-2], at, authz.SignatureInvalid},
		{"mutated timestamp", "1600112503", sendgridSig, sendgridBody, at, authz.SignatureInvalid},
		{"stale", sendgridTS, sendgridSig, sendgridBody, at.Add(5*time.Minute + time.Second), authz.TimestampOutOfWindow},
		{"future", sendgridTS, sendgridSig, sendgridBody, at.Add(-5*time.Minute - time.Second), authz.TimestampOutOfWindow},
		{"not base64", sendgridTS, "!!!", sendgridBody, at, authz.SignatureInvalid},
		{"not DER", sendgridTS, base64.StdEncoding.EncodeToString([]byte("not der")), sendgridBody, at, authz.SignatureInvalid},
		{"DER with trailing data", sendgridTS, base64.StdEncoding.EncodeToString(append(mustB64(sendgridSig), 0)), sendgridBody, at, authz.SignatureInvalid},
	}
	var keys [][]byte
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request("POST", "", []byte(c.body),
				authz.HeaderValue{Name: "X-Twilio-Email-Event-Webhook-Signature", Value: c.sig},
				authz.HeaderValue{Name: "X-Twilio-Email-Event-Webhook-Timestamp", Value: c.ts})
			got, err := v.Verify(r, c.now)
			checkReason(t, err, c.want)
			if c.want == authz.OK {
				keys = append(keys, got.ReplayKey)
			}
		})
	}
	if len(keys) != 2 || string(keys[0]) != string(keys[1]) {
		t.Fatal("the two spellings of one signature have different replay keys")
	}
}

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// p256Keys returns n P-256 pairs: PEM PKCS #8 private keys and base64 DER
// public keys, as SendGrid shows them.
func p256Keys(t *testing.T, n int) (priv, pub []authz.Secret) {
	for i := 0; i < n; i++ {
		k, err := ecdsa.GenerateKey(elliptic.P256(), randReader(t))
		if err != nil {
			t.Fatal(err)
		}
		p8, _ := x509.MarshalPKCS8PrivateKey(k)
		spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		priv = append(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
		pub = append(pub, authz.Secret(base64.StdEncoding.EncodeToString(spki)))
	}
	return priv, pub
}

func init() { schemeSuites["sendgrid"] = testSendGridSuite }

func testSendGridSuite(t *testing.T) {
	priv, pub := p256Keys(t, 3)
	runSuite(t, suite{
		scheme: "sendgrid",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			v, err := NewSendGrid(keys, 0)
			if err != nil {
				t.Fatal(err)
			}
			return v
		},
		signKeys: priv, verifyKeys: pub,
		msg:       Message{Body: []byte(`[{"event":"delivered"}]`)},
		sigHeader: SendGridSignatureHeader, tsHeader: SendGridTimestampHeader,
		tolerance: SendGridDefaultTolerance,
		malformed: []string{"MEUCIQ==", "AAAA", sendgridSig},
	})
}

func TestSendGridKeys(t *testing.T) {
	_, pub := p256Keys(t, 1)
	der := mustB64(string(pub[0]))
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if _, err := NewSendGrid([]authz.Secret{pemKey}, 0); err != nil {
		t.Fatal(err)
	}
	_, ed := discordKeys(1)
	for _, k := range []authz.Secret{authz.Secret("!!"), authz.Secret("AAAA"), ed[0]} {
		if _, err := NewSendGrid([]authz.Secret{k}, 0); err == nil {
			t.Errorf("%q accepted", k)
		}
	}
}
