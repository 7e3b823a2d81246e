package authz_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/verify"
)

// tickingClock advances by step on every reading, so that with a replay TTL
// shorter than step every delivery is fresh again: the benchmark then runs
// the full allow path, nonce store included, with one signed request.
type tickingClock struct {
	now  time.Time
	step time.Duration
}

func (c *tickingClock) Now() time.Time { c.now = c.now.Add(c.step); return c.now }

func benchRequest(path string, body []byte, header authz.Header) *authz.Request {
	return &authz.Request{Method: "POST", Scheme: "https", Host: "hooks.example.com", Path: path,
		Header: header, Body: body, ID: "bench"}
}

func BenchmarkCheck(b *testing.B) {
	secret := authz.Secret("bench-secret")
	body := make([]byte, 4096)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
	small := body[:1024]
	m.Reset()
	m.Write(small)
	smallSig := "sha256=" + hex.EncodeToString(m.Sum(nil))

	eps := []*authz.Endpoint{
		{Name: "github", Match: authz.Match{PathPrefix: "/webhooks/github"}, Verifier: verify.NewGitHub([]authz.Secret{secret}),
			ReplayTTL: time.Nanosecond, RemoveHeaders: []string{"x-hub-signature-256"},
			SetHeaders: []authz.HeaderValue{{Name: "x-webhook-source", Value: "github"}}},
		{Name: "gitlab", Match: authz.Match{PathPrefix: "/webhooks/gitlab"}, Verifier: verify.NewToken("x-gitlab-token", "", "", []authz.Secret{secret})},
	}
	for i := 0; i < 20; i++ { // a realistic number of other endpoints
		eps = append(eps, &authz.Endpoint{Name: "other-" + string(rune('a'+i)), Match: authz.Match{PathPrefix: "/other/" + string(rune('a'+i))},
			Verifier: verify.NewGitHub([]authz.Secret{secret})})
	}
	p, err := authz.NewPolicy("bench", eps)
	if err != nil {
		b.Fatal(err)
	}
	clock := &tickingClock{now: time.Unix(1_700_000_000, 0), step: time.Millisecond}
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 1 << 16, Clock: clock}), Clock: clock})
	a.SetPolicy(p)
	ctx := context.Background()

	cases := []struct {
		name string
		req  *authz.Request
		want authz.Reason
	}{
		{"github-allow-4KiB", benchRequest("/webhooks/github", body, authz.Header{"x-hub-signature-256": sig, "x-github-delivery": "d"}), authz.OK},
		{"github-allow-1KiB", benchRequest("/webhooks/github", small, authz.Header{"x-hub-signature-256": smallSig, "x-github-delivery": "d"}), authz.OK},
		{"github-forged-1KiB", benchRequest("/webhooks/github", small, authz.Header{"x-hub-signature-256": "sha256=" + hex.EncodeToString(make([]byte, 32)), "x-github-delivery": "d"}), authz.SignatureInvalid},
		{"github-allow-named", &authz.Request{Method: "POST", Path: "/x", Body: body, ContextExtensions: map[string]string{authz.EndpointExtension: "github"},
			Header: authz.Header{"x-hub-signature-256": sig}}, authz.OK},
		{"github-forged", benchRequest("/webhooks/github", body, authz.Header{"x-hub-signature-256": "sha256=" + hex.EncodeToString(make([]byte, 32))}), authz.SignatureInvalid},
		{"gitlab-token", benchRequest("/webhooks/gitlab", body, authz.Header{"x-gitlab-token": string(secret)}), authz.OK},
		{"no-endpoint", benchRequest("/nope", body, authz.Header{}), authz.NoEndpoint},
	}
	for _, c := range cases {
		if d := a.Check(ctx, c.req); d.Reason != c.want {
			b.Fatalf("%s: %s, want %s", c.name, d.Reason, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.req.Body)))
			cpu := cpuNow()
			for b.Loop() {
				a.Check(ctx, c.req)
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkHMAC1KiB is the cost of the HMAC-SHA256 of a 1 KiB body with a
// prepared key, as a GitHub verifier pays it: BenchmarkCheck's
// github-allow-1KiB less this is what the decision core adds.
func BenchmarkHMAC1KiB(b *testing.B) {
	body := make([]byte, 1024)
	m := hmac.New(sha256.New, []byte("bench-secret"))
	var sum [sha256.Size]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	cpu := cpuNow()
	for b.Loop() {
		m.Reset()
		m.Write(body)
		m.Sum(sum[:0])
	}
	reportCPU(b, cpu)
}
