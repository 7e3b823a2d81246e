package verify

import (
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// PROVIDERS.md vector 7, from Square's SDK tests.
const (
	squareKey  = "signature-key"
	squareURL  = "https://webhook.site/webhooks"
	squareBody = `{"data":{"type":"webhooks","id":"fake_id"}}`
	squareSig  = "W3FlCNk5IA3ZQ2LHTWoajvzfaDu/OwY2tNHIHC3IUOA="
)

func TestSquareVector(t *testing.T) {
	cases := []struct {
		name, url, key, body, sig string
		want                      authz.Reason
	}{
		{"published vector", squareURL, squareKey, squareBody, squareSig, authz.OK},
		{"another notification URL", squareURL + "/", squareKey, squareBody, squareSig, authz.SignatureInvalid},
		{"wrong key", squareURL, "signature-key2", squareBody, squareSig, authz.SignatureInvalid},
		{"mutated body", squareURL, squareKey, squareBody + " ", squareSig, authz.SignatureInvalid},
		{"hex signature", squareURL, squareKey, squareBody, "5b716508d939200dd94362c74d6a1a8efcdf683b9fb4ce3f5c9fe2f5c50d0e6f", authz.SignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewSquare(secrets(c.key), c.url)
			if err != nil {
				t.Fatal(err)
			}
			// The request's own URL does not matter: Square signs the
			// configured one.
			r := request("POST", "https://hooks.example.com/square", []byte(c.body), authz.HeaderValue{Name: "X-Square-Hmacsha256-Signature", Value: c.sig})
			_, err = v.Verify(r, t0)
			checkReason(t, err, c.want)
		})
	}
	if _, err := NewSquare(secrets(squareKey), ""); err == nil {
		t.Fatal("accepted an empty notification URL")
	}
	h, err := signSquare(secrets(squareKey)[0], Message{URL: squareURL, Body: []byte(squareBody)})
	if err != nil || h[0].Value != squareSig {
		t.Fatalf("signer: %v, %v", h, err)
	}
}

func init() { schemeSuites["square"] = testSquareSuite }

func testSquareSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "square",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			v, err := NewSquare(keys, "https://hooks.example.com/square")
			if err != nil {
				t.Fatal(err)
			}
			return v
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"event_id":"e1"}`), URL: "https://hooks.example.com/square"},
		sigHeader: SquareSignatureHeader,
		malformed: []string{"=", "AAAA", "!!!!"},
	})
}
