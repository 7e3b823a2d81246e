package authz_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
)

// fakeClock is a settable authz.Clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// stubVerifier accepts a request whose "x-sig" header is "good", reporting
// "x-id" as the delivery id and "x-sig" plus the body as the replay key.
type stubVerifier struct{ calls atomic.Int64 }

func (*stubVerifier) Scheme() string { return "stub" }

func (s *stubVerifier) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	s.calls.Add(1)
	v := authz.Verified{DeliveryID: r.Header.Get("x-id")}
	switch r.Header.Get("x-sig") {
	case "":
		return v, authz.SignatureMissing
	case "good":
		v.ReplayKey = append([]byte("good:"), r.Body...)
		return v, nil
	case "stale":
		return v, fmt.Errorf("%w: 400s old", authz.TimestampOutOfWindow)
	case "broken":
		return v, errors.New("disk on fire")
	default:
		return v, fmt.Errorf("%w: no secret matches", authz.SignatureInvalid)
	}
}

// failingStore is a NonceStore whose backend is down.
type failingStore struct{}

func (failingStore) Remember(context.Context, authz.Nonces) (bool, error) {
	return false, errors.New("connection refused")
}
func (failingStore) Forget(context.Context, authz.Nonces) error { return nil }

func newAuthorizer(t *testing.T, store authz.NonceStore, eps ...*authz.Endpoint) *authz.Authorizer {
	t.Helper()
	p, err := authz.NewPolicy("test", eps)
	if err != nil {
		t.Fatal(err)
	}
	a := authz.NewAuthorizer(authz.Config{Nonces: store, Clock: &fakeClock{now: time.Unix(1_700_000_000, 0)}})
	a.SetPolicy(p)
	return a
}

func post(path string, header authz.Header, body string) *authz.Request {
	return &authz.Request{Method: "POST", Scheme: "https", Host: "hooks.example.com", Path: path, Header: header, Body: []byte(body), ID: "req-1"}
}

func TestCheckStages(t *testing.T) {
	ep := &authz.Endpoint{
		Name:          "hooks",
		Match:         authz.Match{PathPrefix: "/hooks"},
		Verifier:      &stubVerifier{},
		ReplayTTL:     10 * time.Minute,
		SetHeaders:    []authz.HeaderValue{{Name: "x-webhook-source", Value: "stub"}},
		RemoveHeaders: []string{"x-sig"},
	}
	tests := []struct {
		name   string
		req    *authz.Request
		reason authz.Reason
		status int
	}{
		{"valid", post("/hooks", authz.Header{"x-sig": "good", "x-id": "d1"}, "a"), authz.OK, 200},
		{"missing signature", post("/hooks", authz.Header{}, "b"), authz.SignatureMissing, 401},
		{"bad signature", post("/hooks", authz.Header{"x-sig": "bad"}, "c"), authz.SignatureInvalid, 401},
		{"stale", post("/hooks", authz.Header{"x-sig": "stale"}, "d"), authz.TimestampOutOfWindow, 401},
		{"verifier error is unavailable", post("/hooks", authz.Header{"x-sig": "broken"}, "e"), authz.Unavailable, 503},
		{"unknown path", post("/other", authz.Header{"x-sig": "good"}, "f"), authz.NoEndpoint, 404},
		{"wrong method", &authz.Request{Method: "GET", Path: "/hooks", Header: authz.Header{"x-sig": "good"}}, authz.MethodNotAllowed, 405},
		{"truncated body", &authz.Request{Method: "POST", Path: "/hooks", Header: authz.Header{"x-sig": "good"}, BodyTruncated: true}, authz.BodyTruncated, 413},
	}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 100}), ep)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := a.Check(context.Background(), tt.req)
			ans := d.Answer()
			if d.Reason != tt.reason || ans.Status != tt.status {
				t.Fatalf("got %s %d, want %s %d (detail %q)", d.Reason, ans.Status, tt.reason, tt.status, d.Detail)
			}
			if ans.Forward != (tt.reason == authz.OK) || (d.Outcome() == authz.OutcomeAllow) != (tt.reason == authz.OK) {
				t.Fatalf("forward %v, outcome %s for %s", ans.Forward, d.Outcome(), d.Reason)
			}
			if d.RequestID != tt.req.ID {
				t.Fatalf("request id %q, want %q", d.RequestID, tt.req.ID)
			}
			if d.Reason == authz.Unavailable && d.RetryAfterSeconds == 0 {
				t.Fatal("unavailable without Retry-After")
			}
		})
	}
}

func TestCheckAllowHeaders(t *testing.T) {
	ep := &authz.Endpoint{
		Name:          "hooks",
		Match:         authz.Match{PathPrefix: "/hooks"},
		Verifier:      &stubVerifier{},
		SetHeaders:    []authz.HeaderValue{{Name: "x-webhook-source", Value: "stub"}},
		RemoveHeaders: []string{"x-sig"},
	}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 100}), ep)
	d := a.Check(context.Background(), post("/hooks/x", authz.Header{
		"x-sig":                 "good",
		"x-id":                  "delivery-7",
		"x-hookguard-verified":  "spoofed",
		"x-hookguard-something": "spoofed",
		// What CGI and WSGI servers read as the same variables.
		"x_hookguard_verified": "spoofed",
		"x-hookguard_endpoint": "spoofed",
		"x_hookguard-other":    "spoofed",
		// Look-alikes that are not trust headers stay.
		"x-hookguardverified": "kept",
		"x_hookguard":         "kept",
	}, "{}"))
	if d.Outcome() != authz.OutcomeAllow || !d.Verified || d.Endpoint != "hooks" || d.Scheme != "stub" || d.DeliveryID != "delivery-7" {
		t.Fatalf("decision %+v", d)
	}
	wantSet := []authz.HeaderValue{
		{Name: authz.HeaderEndpoint, Value: "hooks"},
		{Name: authz.HeaderVerified, Value: "stub"},
		{Name: authz.HeaderDeliveryID, Value: "delivery-7"},
		{Name: "x-webhook-source", Value: "stub"},
	}
	if !slices.Equal(d.SetHeaders, wantSet) {
		t.Errorf("SetHeaders = %v, want %v", d.SetHeaders, wantSet)
	}
	// x-hookguard-verified is overwritten by SetHeaders; any other
	// x-hookguard-* header, in any spelling of - and _, must be removed.
	remove := slices.Sorted(slices.Values(d.RemoveHeaders))
	if want := []string{"x-hookguard-something", "x-hookguard_endpoint", "x-sig", "x_hookguard-other", "x_hookguard_verified"}; !slices.Equal(remove, want) {
		t.Errorf("RemoveHeaders = %v, want %v", remove, want)
	}
}

func TestReplayRememberedLastAndOnlyWhenValid(t *testing.T) {
	v := &stubVerifier{}
	ep := &authz.Endpoint{Name: "hooks", Match: authz.Match{PathPrefix: "/hooks"}, Verifier: v, ReplayTTL: time.Minute}
	store := replay.NewMemory(replay.MemoryConfig{Capacity: 100})
	a := newAuthorizer(t, store, ep)
	ctx := context.Background()

	for i := 0; i < 50; i++ {
		if d := a.Check(ctx, post("/hooks", authz.Header{"x-sig": "forged"}, "x")); d.Reason != authz.SignatureInvalid {
			t.Fatalf("forged: %s", d.Reason)
		}
	}
	if n := store.Len(); n != 0 {
		t.Fatalf("forged requests filled the replay cache: %d entries", n)
	}
	valid := post("/hooks", authz.Header{"x-sig": "good", "x-id": "d1"}, "payload")
	if d := a.Check(ctx, valid); d.Reason != authz.OK {
		t.Fatalf("first: %s", d.Reason)
	}
	d := a.Check(ctx, valid)
	if d.Reason != authz.Replayed || d.Answer().Status != http.StatusConflict || d.DeliveryID != "d1" {
		t.Fatalf("second: %+v", d)
	}
	// A different unsigned header (the delivery id) does not make a new key.
	if d := a.Check(ctx, post("/hooks", authz.Header{"x-sig": "good", "x-id": "d2"}, "payload")); d.Reason != authz.Replayed {
		t.Fatalf("new unsigned id minted a fresh key: %s", d.Reason)
	}
	if d := a.Check(ctx, post("/hooks", authz.Header{"x-sig": "good"}, "other payload")); d.Reason != authz.OK {
		t.Fatalf("other delivery: %s", d.Reason)
	}
}

// An allowed delivery carries its nonce claim; forgetting the claim lets the
// provider's retry through under a claim of its own, which a late second
// forget of the first cannot remove. Denials carry none.
func TestAllowCarriesTheClaimToForget(t *testing.T) {
	ep := &authz.Endpoint{Name: "hooks", Match: authz.Match{PathPrefix: "/hooks"}, Verifier: &stubVerifier{}, ReplayTTL: time.Minute}
	store := replay.NewMemory(replay.MemoryConfig{Capacity: 100})
	a := newAuthorizer(t, store, ep)
	ctx := context.Background()
	delivery := post("/hooks", authz.Header{"x-sig": "good"}, "payload")
	first := a.Check(ctx, delivery)
	if first.Reason != authz.OK || first.Nonce == nil || first.Nonce.Endpoint != "hooks" || len(first.Nonce.Keys) != 1 || first.Nonce.TTL != time.Minute {
		t.Fatalf("allow: %+v, claim %+v", first, first.Nonce)
	}
	if d := a.Check(ctx, delivery); d.Reason != authz.Replayed || d.Nonce != nil {
		t.Fatalf("replay: %s, claim %+v", d.Reason, d.Nonce)
	}
	if d := a.Check(ctx, post("/hooks", authz.Header{"x-sig": "forged"}, "payload")); d.Nonce != nil {
		t.Fatalf("a denial carries a claim: %+v", d.Nonce)
	}
	if err := store.Forget(ctx, *first.Nonce); err != nil {
		t.Fatal(err)
	}
	retry := a.Check(ctx, delivery)
	if retry.Reason != authz.OK || retry.Nonce == nil || retry.Nonce.Token == first.Nonce.Token {
		t.Fatalf("retry after forget: %s, claim %+v", retry.Reason, retry.Nonce)
	}
	if err := store.Forget(ctx, *first.Nonce); err != nil {
		t.Fatal(err)
	}
	if d := a.Check(ctx, delivery); d.Reason != authz.Replayed {
		t.Fatalf("third copy after a late forget of the first: %s", d.Reason)
	}
	noReplay := &authz.Endpoint{Name: "off", Match: authz.Match{PathPrefix: "/off"}, Verifier: &stubVerifier{}}
	a = newAuthorizer(t, store, noReplay)
	if d := a.Check(ctx, post("/off", authz.Header{"x-sig": "good"}, "x")); d.Reason != authz.OK || d.Nonce != nil {
		t.Fatalf("endpoint without replay protection: %s, claim %+v", d.Reason, d.Nonce)
	}
}

func TestReplayConcurrentExactlyOnce(t *testing.T) {
	ep := &authz.Endpoint{Name: "hooks", Match: authz.Match{PathPrefix: "/hooks"}, Verifier: &stubVerifier{}, ReplayTTL: time.Minute}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 100}), ep)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := a.Check(context.Background(), post("/hooks", authz.Header{"x-sig": "good"}, "same"))
			if d.Answer().Forward {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 1 {
		t.Fatalf("%d of 32 concurrent copies allowed, want exactly 1", allowed.Load())
	}
}

func TestReplayDisabledAndStoreFailure(t *testing.T) {
	off := &authz.Endpoint{Name: "off", Match: authz.Match{Path: "/off"}, Verifier: &stubVerifier{}}
	down := &authz.Endpoint{Name: "down", Match: authz.Match{Path: "/down"}, Verifier: &stubVerifier{}, ReplayTTL: time.Minute}
	a := newAuthorizer(t, failingStore{}, off, down)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if d := a.Check(ctx, post("/off", authz.Header{"x-sig": "good"}, "x")); d.Reason != authz.OK {
			t.Fatalf("replay off, attempt %d: %s", i, d.Reason)
		}
	}
	d := a.Check(ctx, post("/down", authz.Header{"x-sig": "good"}, "x"))
	if ans := d.Answer(); ans.Forward || d.Reason != authz.Unavailable || ans.Status != 503 || d.RetryAfterSeconds == 0 {
		t.Fatalf("nonce store down must fail closed with 503: %+v", d)
	}
}

func TestDryRun(t *testing.T) {
	ep := &authz.Endpoint{Name: "dry", Match: authz.Match{PathPrefix: "/dry"}, Verifier: &stubVerifier{}, DryRun: true}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 100}), ep)
	d := a.Check(context.Background(), post("/dry", authz.Header{"x-sig": "bad", "x-id": "claimed", "x-hookguard-verified": "spoof"}, "x"))
	// The verdict is deny, as enforcing would decide; the answer lets the
	// request through.
	ans := d.Answer()
	if d.Outcome() != authz.OutcomeDeny || !d.DryRun || d.Reason != authz.SignatureInvalid || d.Verified {
		t.Fatalf("dry run decision %+v", d)
	}
	if !ans.Forward || ans.Status != 200 || ans.Body != nil || ans.Header != nil {
		t.Fatalf("dry run answer %+v", ans)
	}
	if !slices.Contains(ans.SetHeaders, authz.HeaderValue{Name: authz.HeaderEndpoint, Value: "dry"}) {
		t.Fatalf("dry run pass not marked with its endpoint: %v", ans.SetHeaders)
	}
	for _, h := range d.SetHeaders {
		if h.Name == authz.HeaderVerified || h.Name == authz.HeaderDeliveryID {
			t.Fatalf("dry run pass of a failed request sets %s", h.Name)
		}
	}
	if !slices.Contains(d.RemoveHeaders, "x-hookguard-verified") {
		t.Fatalf("spoofed verified header not removed: %v", d.RemoveHeaders)
	}
}

func TestNoPolicyIsUnavailable(t *testing.T) {
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 10})})
	d := a.Check(context.Background(), post("/x", nil, ""))
	if d.Answer().Forward || d.Reason != authz.Unavailable || d.RequestID != "req-1" {
		t.Fatalf("%+v", d)
	}
}

// handshakeVerifier answers requests with header "x-challenge" itself.
type handshakeVerifier struct{ stubVerifier }

func (h *handshakeVerifier) Handshake(r *authz.Request, _ time.Time) (*authz.Response, error) {
	c := r.Header.Get("x-challenge")
	switch {
	case c == "":
		return nil, nil
	case r.Header.Get("x-sig") != "good":
		return nil, authz.SignatureInvalid
	}
	return &authz.Response{ContentType: "text/plain", Body: []byte(c)}, nil
}

// credentialVerifier is a stubVerifier whose "x-sig" header is a credential.
type credentialVerifier struct{ stubVerifier }

func (*credentialVerifier) CredentialHeaders() []string { return []string{"x-sig"} }

func TestHandshakeAndCredentials(t *testing.T) {
	on := &authz.Endpoint{Name: "on", Match: authz.Match{Path: "/on"}, Verifier: &handshakeVerifier{}, Handshakes: true}
	off := &authz.Endpoint{Name: "off", Match: authz.Match{Path: "/off"}, Verifier: &handshakeVerifier{}}
	cred := &authz.Endpoint{Name: "cred", Match: authz.Match{Path: "/cred"}, Verifier: &credentialVerifier{}, DryRun: true}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}), on, off, cred)
	ctx := context.Background()

	d := a.Check(ctx, post("/on", authz.Header{"x-sig": "good", "x-challenge": "abc"}, ""))
	ans := d.Answer()
	if d.Reason != authz.Handshake || d.Outcome() != authz.OutcomeHandshake || ans.Status != 200 || ans.Forward || string(ans.Body) != "abc" ||
		!slices.Equal(ans.Header, []authz.HeaderValue{{Name: "content-type", Value: "text/plain"}}) {
		t.Fatalf("handshake: %+v, answer %+v", d, ans)
	}
	if d := a.Check(ctx, post("/on", authz.Header{"x-sig": "bad", "x-challenge": "abc"}, "")); d.Reason != authz.SignatureInvalid {
		t.Fatalf("unsigned handshake: %s", d.Reason)
	}
	if d := a.Check(ctx, post("/off", authz.Header{"x-sig": "good", "x-challenge": "abc"}, "")); d.Reason != authz.OK || d.Response != nil {
		t.Fatalf("handshakes disabled: %+v", d)
	}
	// A credential header is removed even from a DRY_RUN pass that failed.
	d = a.Check(ctx, post("/cred", authz.Header{"x-sig": "wrong-token"}, ""))
	if ans := d.Answer(); !ans.Forward || !slices.Contains(ans.RemoveHeaders, "x-sig") {
		t.Fatalf("credential kept: %+v", d)
	}
}

func TestSetPolicySwapsAtomically(t *testing.T) {
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 10}), &authz.Endpoint{Name: "one", Match: authz.Match{Path: "/one"}, Verifier: &stubVerifier{}})
	if d := a.Check(context.Background(), post("/two", authz.Header{"x-sig": "good"}, "")); d.Reason != authz.NoEndpoint || d.Revision != "test" {
		t.Fatal(d.Reason, d.Revision)
	}
	p, _ := authz.NewPolicy("v2", []*authz.Endpoint{{Name: "two", Match: authz.Match{Path: "/two"}, Verifier: &stubVerifier{}}})
	a.SetPolicy(p)
	if d := a.Check(context.Background(), post("/two", authz.Header{"x-sig": "good"}, "")); d.Reason != authz.OK || d.Revision != "v2" {
		t.Fatal(d.Reason, d.Revision)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// multiKeyVerifier accepts every request, known by each comma-separated
// key in its x-keys header, as a request with several signatures is.
type multiKeyVerifier struct{}

func (multiKeyVerifier) Scheme() string { return "multi" }
func (multiKeyVerifier) Verify(r *authz.Request, _ time.Time) (authz.Verified, error) {
	var v authz.Verified
	for i, k := range strings.Split(r.Header.Get("x-keys"), ",") {
		if i == 0 {
			v.ReplayKey = []byte(k)
		} else {
			v.MoreReplayKeys = append(v.MoreReplayKeys, []byte(k))
		}
	}
	return v, nil
}

func TestReplayWithSeveralKeys(t *testing.T) {
	ep := &authz.Endpoint{Name: "m", Match: authz.Match{PathPrefix: "/"}, Verifier: multiKeyVerifier{}, ReplayTTL: time.Minute}
	a := newAuthorizer(t, replay.NewMemory(replay.MemoryConfig{Capacity: 100}), ep)
	for i, step := range []struct {
		keys string
		want authz.Reason
	}{
		{"sig-a,sig-b", authz.OK},
		{"sig-b", authz.Replayed},       // one signature dropped
		{"sig-b,sig-a", authz.Replayed}, // reordered
		{"sig-c,sig-a", authz.Replayed}, // one new, one seen
		{"sig-c", authz.OK},             // the replay above recorded nothing
	} {
		if d := a.Check(context.Background(), post("/", authz.Header{"x-keys": step.keys}, "")); d.Reason != step.want {
			t.Fatalf("step %d (%s): %s, want %s", i, step.keys, d.Reason, step.want)
		}
	}
}

func TestReplayWithoutNonceStoreFailsClosed(t *testing.T) {
	ep := &authz.Endpoint{Name: "hooks", Match: authz.Match{Path: "/hooks"}, Verifier: &stubVerifier{}, ReplayTTL: time.Minute}
	a := newAuthorizer(t, nil, ep)
	for i := range 2 {
		d := a.Check(context.Background(), post("/hooks", authz.Header{"x-sig": "good"}, "x"))
		if d.Reason != authz.Unavailable || d.Answer().Forward {
			t.Fatalf("attempt %d without a nonce store: %s (%s)", i, d.Reason, d.Detail)
		}
	}
}
