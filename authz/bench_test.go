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
			for b.Loop() {
				a.Check(ctx, c.req)
			}
		})
	}
}
