package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
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

// TestForgedCost: for every registered scheme, its most expensive forged
// request (forgedSamples) costs at most three times a valid GitHub
// delivery of the same body under as many secrets, counted in work rather
// than timed, so the bound holds on a loaded machine; BenchmarkForged
// times the same requests.
func TestForgedCost(t *testing.T) {
	gv, gr := githubValid(t)
	base := measure(t, func() {
		if err := check(gv, gr, t0); err != nil {
			t.Fatal(err)
		}
	})
	if base.macs != rotation || base.hashed[hashSHA256] < (rotation+1)*forgedBodySize {
		t.Fatalf("valid GitHub delivery: %v; want a MAC per secret and the replay key's hash", &base)
	}
	for _, s := range All() {
		for _, sample := range forgedSamples[s.Name] {
			t.Run(sample.name(s.Name), func(t *testing.T) {
				v := buildSample(t, sample)
				r := sample.forge()
				w := measure(t, func() {
					if err := check(v, r, t0); err == nil {
						t.Fatal("forged request accepted")
					}
				})
				ratio := w.cost() / base.cost()
				t.Logf("%.2f× a valid GitHub delivery: %v", ratio, &w)
				if ratio > 3 {
					t.Errorf("a forged request costs %.2f× a valid GitHub delivery of the same body, more than 3×: %v", ratio, &w)
				}
				// Twilio signs the URL, tried with and without its
				// default port: two MACs per secret.
				if w.macs > 2*rotation {
					t.Errorf("%d MACs under %d secrets: a secret's MAC of the signed content is computed once per request", w.macs, rotation)
				}
				if n := w.ed25519 + w.ecdsa; n > max(maxHTTPSigChecks, ed25519Budget(rotation)) {
					t.Errorf("%d public-key checks", n)
				}
				if w.cost() == 0 {
					t.Error("the forged request cost nothing: it is refused before the signature check, so it is not the most expensive one")
				}
			})
		}
	}
}

// TestForgedCostCatalog holds every preset of the provider catalog whose
// keys are secrets to the same bound, with a delivery its signer makes over
// a 1 MiB body under a secret the policy does not list. Presets whose keys
// are public keys run on the Discord, SendGrid and Standard Webhooks
// mechanisms, whose forgedSamples cover them.
func TestForgedCostCatalog(t *testing.T) {
	gv, gr := githubValid(t)
	base := measure(t, func() { check(gv, gr, t0) })
	seen := map[string]bool{}
	for _, c := range providerVectors() {
		name := c.provider + "/" + c.version
		if c.publicKeys || seen[name] {
			continue
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			m := Message{Body: forgedJSONBody(`"id":"evt_1"`), Time: t0, ID: "d-1", URL: "https://hooks.example.com/hook?x=1"}
			switch c.provider {
			case "twilio":
				m.URL += "&bodySHA256=" + hx(sha256Sum(m.Body))
			case "mailchimp":
				m.Body, m.ContentType = forgedFormBody(""), formType
			case "linear":
				m.Body = forgedJSONBody(`"webhookTimestamp":` + strconv.FormatInt(t0.UnixMilli(), 10))
			case "square":
				m.URL = c.notificationURL
			}
			d, err := SignProvider(c.provider, c.version, authz.Secret(c.secret), m)
			if err != nil {
				t.Fatal(err)
			}
			r := request("POST", d.URL, d.Body, d.Headers...)
			if m.ContentType != "" {
				r.Header["content-type"] = m.ContentType
			}
			cfg := &policyv1.ProviderVerify{Name: c.provider, Version: c.version, NotificationUrl: c.notificationURL}
			env := mapEnv{}
			for i := range rotation {
				ref := "K" + strconv.Itoa(i)
				env[ref] = rotationSecretLike(c.secret, i)
				cfg.Secrets = append(cfg.Secrets, sampleRef(ref))
			}
			v, err := buildProvider(cfg, env)
			if err != nil {
				t.Fatal(err)
			}
			var checkErr error
			w := measure(t, func() { checkErr = check(v, r, t0) })
			checkReason(t, checkErr, authz.SignatureInvalid)
			if ratio := w.cost() / base.cost(); ratio > 3 {
				t.Errorf("a forged request costs %.2f× a valid GitHub delivery of the same body, more than 3×: %v", ratio, &w)
			}
		})
	}
}

// rotationSecretLike returns the i-th of a policy's secrets in the form of
// s (whsec_, user:password, hex, base64 or text), never s itself.
func rotationSecretLike(s string, i int) string {
	other := "rotation secret " + strconv.Itoa(i)
	switch {
	case strings.HasPrefix(s, "whsec_"):
		return "whsec_" + b64([]byte(other))
	case strings.Contains(s, ":"):
		return "hooks:rotation-" + strconv.Itoa(i)
	}
	if _, err := hex.DecodeString(s); err == nil && len(s) > 8 {
		return hx([]byte(other))
	}
	if _, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err == nil {
		return b64([]byte(other))
	}
	return s + "-rotation-" + strconv.Itoa(i)
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
