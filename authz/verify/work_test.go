package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
)

// The cost of the counted work, in bytes of SHA-256 input: what a byte
// hashed or decoded, or a signature check, costs against a byte hashed by
// SHA-256. BenchmarkWorkWeights measures them (x-sha256-MiB); these are
// its figures on amd64 with the SHA extensions (SHA-1 and SHA-256 in
// hardware, SHA-512 not: the common case for servers) on an idle machine,
// rounded up.
const (
	weightSHA1   = 1
	weightSHA256 = 1
	weightSHA512 = 2.5
	// weightEd25519 and weightECDSA are a check's fixed cost, beyond
	// hashing the message.
	weightEd25519 = 160 << 10
	weightECDSA   = 192 << 10
	// weightJSON is encoding/json's, weightForm appendQueryUnescape's,
	// weightScan jsonMember's.
	weightJSON = 32
	weightForm = 4
	weightScan = 4
)

// cost is w in bytes of SHA-256 input.
func (w *work) cost() float64 {
	return weightSHA1*float64(w.hashed[hashSHA1]) + weightSHA256*float64(w.hashed[hashSHA256]) + weightSHA512*float64(w.hashed[hashSHA512]) +
		weightEd25519*float64(w.ed25519) + weightECDSA*float64(w.ecdsa) +
		weightJSON*float64(w.decodedJSON) + weightForm*float64(w.decodedForm) + weightScan*float64(w.scanned)
}

func (w *work) String() string {
	return fmt.Sprintf("SHA-1 %d B, SHA-256 %d B, SHA-512 %d B, %d MACs, %d Ed25519 and %d ECDSA checks, JSON %d B, form %d B, scanned %d B",
		w.hashed[hashSHA1], w.hashed[hashSHA256], w.hashed[hashSHA512], w.macs, w.ed25519, w.ecdsa, w.decodedJSON, w.decodedForm, w.scanned)
}

// measure returns the work f makes verifiers do.
func measure(t *testing.T, f func()) work {
	t.Helper()
	var w work
	meter = &w
	defer func() { meter = nil }()
	f()
	return w
}

// BenchmarkWorkWeights times the work TestForgedCost counts, for the
// weights above. Each case runs SHA-256 over 1 MiB between its own runs,
// untimed and for about as long, and reports its cost against it
// (x-sha256-MiB): the weight itself for the per-MiB cases, the weight over
// 1 MiB for the signature checks (over a short message, whose hashing is
// counted apart).
func BenchmarkWorkWeights(b *testing.B) {
	body := forgedOpaqueBody()
	tokens := forgedJSONBody(`"a":0`)
	form := string(forgedPairsBody("a=0"))
	twilioForm := forgedFormBody("")
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edSig := ed25519.Sign(edPriv, []byte("m"))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("m"))
	ecR, ecS, _ := ecdsa.Sign(rand.Reader, ec, digest[:])
	cases := []struct {
		name string
		f    func()
	}{
		{"sha256 per MiB", func() { sha256.Sum256(body) }},
		{"sha1 per MiB", func() { sha1.Sum(body) }},
		{"sha512 per MiB", func() { sha512.Sum512(body) }},
		{"ed25519 check", func() { ed25519.Verify(edPub, []byte("m"), edSig) }},
		{"ecdsa check", func() { ecdsa.Verify(&ec.PublicKey, digest[:], ecR, ecS) }},
		{"encoding/json per MiB", func() {
			var v struct{ A *struct{} }
			json.Unmarshal(tokens, &v)
		}},
		{"form per MiB", func() { url.ParseQuery(form) }},
		{"twilio form per MiB", func() { twilioFormContent(twilioForm) }},
		{"scan per MiB", func() { jsonMember(tokens, "signature") }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			benchAgainst(b, c.f, func() { sha256.Sum256(body) }, "x-sha256-MiB")
		})
	}
}
