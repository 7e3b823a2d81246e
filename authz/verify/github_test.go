package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// The published vector from GitHub's documentation (PROVIDERS.md #1).
const (
	githubVectorSecret = "It's a Secret to Everybody"
	githubVectorBody   = "Hello, World!"
	githubVectorSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func githubRequest(sig, body string) *authz.Request {
	h := authz.Header{GitHubDeliveryHeader: "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
	if sig != "" {
		h[GitHubSignatureHeader] = sig
	}
	return &authz.Request{Method: "POST", Header: h, Body: []byte(body)}
}

func TestGitHub(t *testing.T) {
	vector := NewGitHub([]authz.Secret{authz.Secret(githubVectorSecret)})
	rotated := NewGitHub([]authz.Secret{authz.Secret("new secret"), authz.Secret(githubVectorSecret)})
	wrong := NewGitHub([]authz.Secret{authz.Secret("not it")})
	tests := []struct {
		name     string
		v        *GitHub
		sig      string
		body     string
		want     authz.Reason
		wantHint string
	}{
		{"published vector", vector, githubVectorSig, githubVectorBody, authz.OK, ""},
		{"old secret during rotation", rotated, githubVectorSig, githubVectorBody, authz.OK, ""},
		{"upper-case hex", vector, "sha256=" + strings.ToUpper(githubVectorSig[7:]), githubVectorBody, authz.OK, ""},
		{"wrong secret", wrong, githubVectorSig, githubVectorBody, authz.SignatureInvalid, "no secret"},
		{"mutated body", vector, githubVectorSig, githubVectorBody + " ", authz.SignatureInvalid, "no secret"},
		{"missing header", vector, "", githubVectorBody, authz.SignatureMissing, ""},
		{"sha1 prefix", vector, "sha1=" + githubVectorSig[7:], githubVectorBody, authz.SignatureInvalid, "prefix"},
		{"no prefix", vector, githubVectorSig[7:], githubVectorBody, authz.SignatureInvalid, "prefix"},
		{"short", vector, githubVectorSig[:70], githubVectorBody, authz.SignatureInvalid, "hex digits"},
		{"long", vector, githubVectorSig + "00", githubVectorBody, authz.SignatureInvalid, "hex digits"},
		{"not hex", vector, "sha256=" + strings.Repeat("zz", 32), githubVectorBody, authz.SignatureInvalid, "not hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.v.Verify(githubRequest(tt.sig, tt.body), time.Time{})
			if got := authz.ReasonOf(err); got != tt.want {
				t.Fatalf("reason %s, want %s (err %v)", got, tt.want, err)
			}
			if tt.wantHint != "" && !strings.Contains(err.Error(), tt.wantHint) {
				t.Errorf("error %q lacks %q", err, tt.wantHint)
			}
			if err != nil && tt.sig != "" && strings.Contains(err.Error(), tt.sig[min(len(tt.sig), 7):]) {
				t.Errorf("error quotes the signature: %q", err)
			}
			if v.DeliveryID != "72d3162e-cc78-11e3-81ab-4c9367dc0958" {
				t.Errorf("delivery id %q", v.DeliveryID)
			}
			if (err == nil) != (v.ReplayKey != nil) {
				t.Errorf("replay key %x with err %v", v.ReplayKey, err)
			}
		})
	}
}

// The replay key is canonical: the same delivery with its hex in another
// case is the same key, so case cannot mint a fresh nonce.
func TestGitHubReplayKeyIsCanonical(t *testing.T) {
	g := NewGitHub([]authz.Secret{authz.Secret(githubVectorSecret)})
	lower, err1 := g.Verify(githubRequest(githubVectorSig, githubVectorBody), time.Time{})
	upper, err2 := g.Verify(githubRequest("sha256="+strings.ToUpper(githubVectorSig[7:]), githubVectorBody), time.Time{})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if string(lower.ReplayKey) != string(upper.ReplayKey) {
		t.Fatal("hex case changes the replay key")
	}
	// The key is the hash of what the signature covers: the body.
	want := sha256.Sum256([]byte(githubVectorBody))
	if !hmac.Equal(lower.ReplayKey, want[:]) {
		t.Fatalf("replay key %x is not the SHA-256 of the body", lower.ReplayKey)
	}
}

func TestSignGitHubRoundTrip(t *testing.T) {
	headers, err := Sign("github", authz.Secret(githubVectorSecret), Message{Body: []byte(githubVectorBody), ID: "d-1"})
	if err != nil {
		t.Fatal(err)
	}
	h := authz.Header{}
	for _, hv := range headers {
		h[strings.ToLower(hv.Name)] = hv.Value
	}
	if h[GitHubSignatureHeader] != githubVectorSig || h[GitHubDeliveryHeader] != "d-1" {
		t.Fatalf("signed headers %v", headers)
	}
	// And an independent computation agrees.
	m := hmac.New(sha256.New, []byte(githubVectorSecret))
	m.Write([]byte(githubVectorBody))
	if "sha256="+hex.EncodeToString(m.Sum(nil)) != githubVectorSig {
		t.Fatal("vector does not match crypto/hmac")
	}
	if _, err := Sign("nope", nil, Message{}); err == nil {
		t.Fatal("unknown scheme signed")
	}
}

func TestGitHubConcurrent(t *testing.T) {
	g := NewGitHub([]authz.Secret{authz.Secret(githubVectorSecret)})
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			var err error
			for j := 0; j < 200 && err == nil; j++ {
				_, err = g.Verify(githubRequest(githubVectorSig, githubVectorBody), time.Time{})
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func init() { schemeSuites["github"] = testGitHubSuite }

func testGitHubSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "github",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewGitHub(keys)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"action":"opened"}`)},
		sigHeader: GitHubSignatureHeader,
		malformed: []string{"sha256=", "sha256=zz", "sha1=" + strings.Repeat("00", 20), strings.Repeat("00", 32)},
	})
}
