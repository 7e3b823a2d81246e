package authz_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/policy"
	"github.com/hookguard/hookguard/authz/verify"
)

// envSecrets is a policy.SecretSource over a map of environment variables.
type envSecrets map[string]string

func (e envSecrets) LookupEnv(name string) (string, bool) { v, ok := e[name]; return v, ok }
func (envSecrets) ReadFile(string) ([]byte, error)        { return nil, fs.ErrNotExist }

// signedPost is a delivery to path signed the way GitHub signs, with secret.
func signedPost(t *testing.T, path, secret, body string) *authz.Request {
	t.Helper()
	headers, err := verify.Sign("github", authz.Secret(secret), verify.Message{Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	h := authz.Header{}
	for _, hv := range headers {
		h[strings.ToLower(hv.Name)] = hv.Value
	}
	return post(path, h, body)
}

// TestReplayEndpointsHaveTheirOwnShare is the eviction the replay store
// used to allow: verified traffic on a low-trust endpoint (a partner with a
// secret of its own) pushed a GitHub endpoint's deliveries out of one
// shared LRU, and a captured GitHub delivery was accepted again. The
// policy, compiled as serve compiles it, now gives each endpoint its own
// share of the store, and the partner's traffic evicts only its own.
func TestReplayEndpointsHaveTheirOwnShare(t *testing.T) {
	const capacity = 1000 // --nonce-capacity
	dir := t.TempDir()
	doc := `endpoints:
  - name: github
    match: {path: /webhooks/github}
    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}
  - name: partner
    match: {path: /webhooks/partner}
    verify: {github: {secrets: [{env: PARTNER_SECRET}]}}
    replay: {capacity: 100}
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := policy.Load(dir, policy.Options{NonceCapacity: capacity,
		Secrets: envSecrets{"GITHUB_SECRET": "gh-secret", "PARTNER_SECRET": "partner-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	if gh := res.Policy.Endpoint("github"); gh.ReplayCapacity != capacity-100 || gh.ReplayTTL != 24*time.Hour {
		t.Fatalf("github: share %d, ttl %v; want the 900 the partner leaves, and 24h", gh.ReplayCapacity, gh.ReplayTTL)
	}
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	store := replay.NewMemory(replay.MemoryConfig{Capacity: capacity, Clock: clock})
	a := authz.NewAuthorizer(authz.Config{Nonces: store, Clock: clock})
	a.SetPolicy(res.Policy)
	ctx := context.Background()

	captured := signedPost(t, "/webhooks/github", "gh-secret", `{"action":"opened"}`)
	if d := a.Check(ctx, captured); d.Reason != authz.OK {
		t.Fatalf("GitHub delivery: %s %s", d.Reason, d.Detail)
	}
	// Ten times the whole store's capacity of verified partner traffic.
	for i := range 10 * capacity {
		if d := a.Check(ctx, signedPost(t, "/webhooks/partner", "partner-secret", fmt.Sprint(i))); d.Reason != authz.OK {
			t.Fatalf("partner delivery %d: %s", i, d.Reason)
		}
	}
	clock.now = clock.now.Add(23 * time.Hour)
	if d := a.Check(ctx, captured); d.Reason != authz.Replayed || d.Answer().Status != http.StatusConflict {
		t.Fatalf("captured GitHub delivery sent again: %s, want replayed", d.Reason)
	}
	for _, st := range store.Shares() {
		switch st.Endpoint {
		case "github":
			if st.EvictedEarly != 0 || st.Entries != 1 || st.Capacity != capacity-100 {
				t.Errorf("github's share: %+v", st)
			}
		case "partner":
			if st.EvictedEarly != 10*capacity-100 || st.Entries != 100 {
				t.Errorf("partner's share: %+v", st)
			}
		}
	}
}

// An endpoint with on_full: reject refuses deliveries its full share
// cannot hold with 503 and a Retry-After of when room comes back, and
// evicts nothing; once the oldest expires, deliveries are accepted again.
func TestReplayShareFullRejects(t *testing.T) {
	ep := &authz.Endpoint{Name: "hooks", Match: authz.Match{PathPrefix: "/hooks"}, Verifier: &stubVerifier{},
		ReplayTTL: time.Hour, ReplayCapacity: 2, ReplayOnFull: authz.RejectWhenFull}
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	store := replay.NewMemory(replay.MemoryConfig{Capacity: 100, Clock: clock})
	p, err := authz.NewPolicy("test", []*authz.Endpoint{ep})
	if err != nil {
		t.Fatal(err)
	}
	a := authz.NewAuthorizer(authz.Config{Nonces: store, Clock: clock})
	a.SetPolicy(p)
	ctx := context.Background()
	good := func(body string) *authz.Request { return post("/hooks", authz.Header{"x-sig": "good"}, body) }

	for _, body := range []string{"one", "two"} {
		if d := a.Check(ctx, good(body)); d.Reason != authz.OK {
			t.Fatalf("%s: %s", body, d.Reason)
		}
		clock.now = clock.now.Add(10 * time.Minute)
	}
	d := a.Check(ctx, good("three"))
	ans := d.Answer()
	if d.Reason != authz.Unavailable || ans.Status != http.StatusServiceUnavailable || ans.Forward || d.RetryAfterSeconds != 40*60 {
		t.Fatalf("full share: %s %d, Retry-After %d; want unavailable 503 after 2400s", d.Reason, ans.Status, d.RetryAfterSeconds)
	}
	if !slices.Contains(ans.Header, authz.HeaderValue{Name: "retry-after", Value: "2400"}) {
		t.Fatalf("answer headers %v, want retry-after 2400", ans.Header)
	}
	if d := a.Check(ctx, good("one")); d.Reason != authz.Replayed {
		t.Fatalf("a full share still knows its deliveries: %s", d.Reason)
	}
	clock.now = clock.now.Add(40 * time.Minute)
	if d := a.Check(ctx, good("three")); d.Reason != authz.OK {
		t.Fatalf("after the oldest expired: %s", d.Reason)
	}
	if store.EvictedEarly() != 0 {
		t.Fatalf("reject evicted %d deliveries", store.EvictedEarly())
	}
}

// recordingStore is a NonceStore that records what it is asked.
type recordingStore struct{ got []authz.Nonces }

func (r *recordingStore) Remember(_ context.Context, n authz.Nonces) (bool, error) {
	r.got = append(r.got, n)
	return true, nil
}
func (*recordingStore) Forget(context.Context, authz.Nonces) error { return nil }

// The store hears the endpoint and its replay policy with every delivery,
// and every key made with the endpoint's name.
func TestReplayStoreGetsTheEndpointsPolicy(t *testing.T) {
	ep := &authz.Endpoint{Name: "hooks", Match: authz.Match{PathPrefix: "/hooks"}, Verifier: &stubVerifier{},
		ReplayTTL: 3 * time.Hour, ReplayCapacity: 1234, ReplayOnFull: authz.RejectWhenFull}
	store := &recordingStore{}
	a := newAuthorizer(t, store, ep)
	if d := a.Check(context.Background(), post("/hooks", authz.Header{"x-sig": "good"}, "body")); d.Reason != authz.OK {
		t.Fatal(d.Reason)
	}
	if len(store.got) != 1 || store.got[0].Token == (authz.NonceToken{}) {
		t.Fatalf("store got %+v, want one delivery with a token", store.got)
	}
	want := authz.Nonces{Endpoint: "hooks", Keys: []authz.NonceKey{authz.NewNonceKey("hooks", []byte("good:body"))},
		TTL: 3 * time.Hour, Capacity: 1234, OnFull: authz.RejectWhenFull, Token: store.got[0].Token}
	if fmt.Sprint(store.got[0]) != fmt.Sprint(want) {
		t.Fatalf("store got %+v, want %+v", store.got, want)
	}
}

func TestNoncesText(t *testing.T) {
	c := &authz.Nonces{Endpoint: "github", Token: authz.NonceToken{0xab, 0xcd, 15: 0xef},
		Keys: []authz.NonceKey{authz.NewNonceKey("github", []byte("a")), authz.NewNonceKey("github", []byte("b"))}}
	text, err := c.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != len("github")+1+32+2*65 || !strings.HasPrefix(string(text), "github:") {
		t.Fatalf("text form %q", text)
	}
	var back authz.Nonces
	if err := back.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	if back.Endpoint != c.Endpoint || back.Token != c.Token || len(back.Keys) != 2 || back.Keys[0] != c.Keys[0] || back.Keys[1] != c.Keys[1] {
		t.Fatalf("round trip: %+v, want %+v", back, c)
	}

	tooMany := &authz.Nonces{Endpoint: "e", Keys: make([]authz.NonceKey, authz.MaxClaimKeys+1)}
	for _, bad := range []*authz.Nonces{tooMany, {Endpoint: "e"}, {Endpoint: "", Keys: c.Keys}, {Endpoint: "a:b", Keys: c.Keys}} {
		if _, err := bad.MarshalText(); err == nil {
			t.Errorf("MarshalText of %d keys on %q: no error", len(bad.Keys), bad.Endpoint)
		}
	}
	s := string(text)
	token := s[len("github:") : len("github:")+32]
	for name, bad := range map[string]string{
		"empty":          "",
		"no keys":        "github:" + token,
		"short key":      s[:len(s)-2],
		"upper-case hex": strings.Replace(s, token, strings.ToUpper(token), 1),
		"not hex":        strings.Replace(s, token, strings.Repeat("zz", 16), 1),
		"empty endpoint": s[len("github"):],
		"too many keys":  s + strings.Repeat(s[strings.LastIndexByte(s, ':'):], authz.MaxClaimKeys),
	} {
		var c authz.Nonces
		if err := c.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%s: %q accepted", name, bad)
		}
	}
}
