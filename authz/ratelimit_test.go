package authz_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/ratelimit"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/verify"
)

// limitedEndpoint serves rl with the stub verifier ("x-sig: good" verifies,
// anything else fails), on a fresh limiter it also returns.
func limitedEndpoint(t *testing.T, rl *authz.RateLimitPolicy, v authz.Verifier) (*authz.Authorizer, *ratelimit.Memory, *fakeClock) {
	t.Helper()
	ep := &authz.Endpoint{Name: "rl", Match: authz.Match{PathPrefix: "/"}, Verifier: v, ReplayTTL: time.Hour, RateLimit: rl}
	p, err := authz.NewPolicy("r", []*authz.Endpoint{ep})
	if err != nil {
		t.Fatal(err)
	}
	limiter := ratelimit.NewMemory()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 100}), Limiter: limiter, Clock: clock})
	a.SetPolicy(p)
	return a, limiter, clock
}

// deliveries makes requests with distinct bodies, so no two are replays.
type deliveries struct{ n int }

func (g *deliveries) valid(src string) *authz.Request {
	g.n++
	return from(src, post("/", authz.Header{"x-sig": "good"}, "delivery "+strconv.Itoa(g.n)))
}

func (g *deliveries) forged(src string) *authz.Request {
	g.n++
	return from(src, post("/", authz.Header{"x-sig": "forged"}, "delivery "+strconv.Itoa(g.n)))
}

// endpointTokens peeks at the endpoint bucket's whole tokens.
func endpointTokens(t *testing.T, m *ratelimit.Memory, l authz.Limit, now time.Time) int {
	t.Helper()
	res, err := m.Take(context.Background(), authz.LimitKey{Endpoint: "rl", Scope: authz.LimitEndpoint}, l, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	return res.Remaining
}

// The reported defect: four forged requests to an endpoint limited to 5 a
// minute, then the valid signed delivery. The forgeries must not spend the
// endpoint's budget, whether they come from the real sender's address or
// another, and whatever buckets the endpoint keeps.
func TestForgedRequestsDoNotSpendEndpointBudget(t *testing.T) {
	limit := authz.Limit{Rate: 5.0 / 60, Burst: 5}
	for _, tt := range []struct {
		name        string
		perSource   bool
		forgedFrom  string
		sendersFrom string
	}{
		{"per endpoint, forged from another source", false, "203.0.113.9", "192.0.2.1"},
		{"per endpoint, forged from the sender's source", false, "192.0.2.1", "192.0.2.1"},
		{"per source and endpoint, forged from another source", true, "203.0.113.9", "192.0.2.1"},
		{"per source and endpoint, forged from the sender's source", true, "192.0.2.1", "192.0.2.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Failures shaped like the block: what a policy gets by default.
			failures := limit
			a, limiter, clock := limitedEndpoint(t, &authz.RateLimitPolicy{Limit: limit, PerEndpoint: true, PerSource: tt.perSource, Failures: &failures}, &stubVerifier{})
			var g deliveries
			ctx := context.Background()
			for i := 0; i < 4; i++ {
				if d := a.Check(ctx, g.forged(tt.forgedFrom)); d.Reason != authz.SignatureInvalid {
					t.Fatalf("forged %d: %s %s", i, d.Reason, d.Detail)
				}
			}
			if n := endpointTokens(t, limiter, limit, clock.now); n != 5 {
				t.Fatalf("after 4 forgeries the endpoint bucket holds %d tokens, want all 5", n)
			}
			if d := a.Check(ctx, g.valid(tt.sendersFrom)); d.Reason != authz.OK {
				t.Fatalf("the valid delivery after the forgeries: %s %s", d.Reason, d.Detail)
			}
			// The endpoint's budget is the verified deliveries': four more
			// from another source, then a 429 naming the endpoint.
			for i := 0; i < 4; i++ {
				if d := a.Check(ctx, g.valid("198.51.100.7")); d.Reason != authz.OK {
					t.Fatalf("verified delivery %d of the budget: %s %s", i+2, d.Reason, d.Detail)
				}
			}
			d := a.Check(ctx, g.valid("198.51.100.8"))
			if d.Reason != authz.RateLimited || d.Detail != "over the endpoint budget" {
				t.Fatalf("sixth verified delivery: %+v", d)
			}
			wantHeaders(t, d, map[string]string{"retry-after": "12", "ratelimit-policy": `"endpoint";q=5;w=60`, "ratelimit": `"endpoint";r=0;t=12`})
		})
	}
}

// A delivery refused by the endpoint's budget was not remembered: the
// provider's retry of it, once a token is back, is accepted, not taken for
// a replay; only then is a further copy a replay.
func TestEndpointLimitedDeliveryCanBeRetried(t *testing.T) {
	a, _, clock := limitedEndpoint(t, &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 1, Burst: 1}, PerEndpoint: true}, &stubVerifier{})
	var g deliveries
	ctx := context.Background()
	if d := a.Check(ctx, g.valid("192.0.2.1")); d.Reason != authz.OK {
		t.Fatalf("first delivery: %s", d.Reason)
	}
	r := g.valid("192.0.2.1")
	if d := a.Check(ctx, r); d.Reason != authz.RateLimited {
		t.Fatalf("second delivery, over the budget: %s", d.Reason)
	}
	clock.now = clock.now.Add(time.Second)
	if d := a.Check(ctx, r); d.Reason != authz.OK {
		t.Fatalf("the retry of the refused delivery: %s %s", d.Reason, d.Detail)
	}
	clock.now = clock.now.Add(time.Second)
	if d := a.Check(ctx, r); d.Reason != authz.Replayed {
		t.Fatalf("a copy of the accepted delivery: %s", d.Reason)
	}
}

// A source that keeps failing verification is cut off before any
// cryptography once its failure budget is empty; other sources are not
// touched, and the budget refills.
func TestFailureBudgetCutsOffProber(t *testing.T) {
	v := &stubVerifier{}
	a, limiter, clock := limitedEndpoint(t, &authz.RateLimitPolicy{
		Limit:       authz.Limit{Rate: 10, Burst: 100},
		PerEndpoint: true,
		Failures:    &authz.Limit{Rate: 1.0 / 60, Burst: 3},
	}, v)
	var g deliveries
	ctx := context.Background()
	const prober, sender = "203.0.113.9", "192.0.2.1"
	steps := []struct {
		name     string
		r        *authz.Request
		want     authz.Reason
		verifies bool // whether the verifier runs
	}{
		{"forged 1", g.forged(prober), authz.SignatureInvalid, true},
		{"missing signature", from(prober, post("/", authz.Header{}, "x")), authz.SignatureMissing, true},
		{"stale", from(prober, post("/", authz.Header{"x-sig": "stale"}, "y")), authz.TimestampOutOfWindow, true},
		{"forged, budget empty", g.forged(prober), authz.RateLimited, false},
		{"valid, from the prober's address", g.valid(prober), authz.RateLimited, false},
		{"valid, from another address", g.valid(sender), authz.OK, true},
		{"forged, from a third address", g.forged("2001:db8::1"), authz.SignatureInvalid, true},
	}
	for _, s := range steps {
		before := v.calls.Load()
		d := a.Check(ctx, s.r)
		if d.Reason != s.want {
			t.Fatalf("%s: %s %s, want %s", s.name, d.Reason, d.Detail, s.want)
		}
		if ran := v.calls.Load() > before; ran != s.verifies {
			t.Fatalf("%s: verifier ran %v, want %v", s.name, ran, s.verifies)
		}
		if s.name == "forged, budget empty" {
			if d.Detail != "over the failures budget" {
				t.Errorf("detail %q", d.Detail)
			}
			wantHeaders(t, d, map[string]string{"retry-after": "60", "ratelimit-policy": `"failures";q=3;w=180`, "ratelimit": `"failures";r=0;t=60`})
		}
	}
	// Only the verified delivery was charged to the endpoint.
	if n := endpointTokens(t, limiter, authz.Limit{Rate: 10, Burst: 100}, clock.now); n != 99 {
		t.Fatalf("endpoint bucket holds %d tokens, want 99", n)
	}
	// A minute later one failure is allowed again: the prober's real
	// delivery passes, and does not spend it.
	clock.now = clock.now.Add(time.Minute)
	for i := 0; i < 2; i++ {
		if d := a.Check(ctx, g.valid(prober)); d.Reason != authz.OK {
			t.Fatalf("valid delivery %d from the prober's address after a minute: %s %s", i, d.Reason, d.Detail)
		}
	}
	if d := a.Check(ctx, g.forged(prober)); d.Reason != authz.SignatureInvalid {
		t.Fatalf("forged after a minute: %s", d.Reason)
	}
	if d := a.Check(ctx, g.forged(prober)); d.Reason != authz.RateLimited {
		t.Fatalf("second forged after a minute: %s", d.Reason)
	}
}

// Only failed verifications are charged to the source's failure budget:
// what a sender without the secret gets. Replays and payload errors come
// from a holder of the secret, truncated bodies and errors from the
// gateway; none of them is a prober's.
func TestWhichDenialsSpendFailureBudget(t *testing.T) {
	const src = "192.0.2.1"
	for _, tt := range []struct {
		name    string
		header  authz.Header
		setup   func(*authz.Request) // a request sent once before, or a change
		want    authz.Reason
		charged bool
	}{
		{"signature missing", authz.Header{}, nil, authz.SignatureMissing, true},
		{"signature invalid", authz.Header{"x-sig": "forged"}, nil, authz.SignatureInvalid, true},
		{"timestamp out of window", authz.Header{"x-sig": "stale"}, nil, authz.TimestampOutOfWindow, true},
		{"handshake with a bad signature", authz.Header{"x-sig": "forged", "x-challenge": "c"}, nil, authz.SignatureInvalid, true},
		{"verifier error", authz.Header{"x-sig": "broken"}, nil, authz.Unavailable, false},
		{"body truncated", authz.Header{"x-sig": "forged"}, func(r *authz.Request) { r.BodyTruncated = true }, authz.BodyTruncated, false},
		{"payload refused", authz.Header{"x-sig": "good", "content-type": "text/plain"}, nil, authz.UnsupportedMediaType, false},
		{"replayed", authz.Header{"x-sig": "good", "content-type": "application/json"}, nil, authz.Replayed, false},
		{"allowed", authz.Header{"x-sig": "good", "content-type": "application/json"}, nil, authz.OK, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			failures := authz.Limit{Rate: 1e-6, Burst: 1}
			ep := &authz.Endpoint{Name: "rl", Match: authz.Match{PathPrefix: "/"}, Verifier: &handshakeVerifier{}, Handshakes: true, ReplayTTL: time.Hour,
				Payload:   &authz.PayloadPolicy{ContentTypes: []string{"application/json"}},
				RateLimit: &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 100, Burst: 100}, PerSource: true, PerEndpoint: true, Failures: &failures}}
			p, _ := authz.NewPolicy("r", []*authz.Endpoint{ep})
			limiter := ratelimit.NewMemory()
			now := time.Unix(1_700_000_000, 0)
			a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 100}), Limiter: limiter, Clock: &fakeClock{now: now}})
			a.SetPolicy(p)
			r := from(src, post("/", tt.header, "{}"))
			if tt.setup != nil {
				tt.setup(r)
			}
			if tt.want == authz.Replayed {
				if d := a.Check(context.Background(), r); d.Reason != authz.OK {
					t.Fatalf("first delivery: %s", d.Reason)
				}
			}
			if d := a.Check(context.Background(), r); d.Reason != tt.want {
				t.Fatalf("%s %s, want %s", d.Reason, d.Detail, tt.want)
			}
			key := authz.LimitKey{Endpoint: "rl", Scope: authz.LimitFailures, Source: netip.MustParsePrefix(src + "/32")}
			res, err := limiter.Take(context.Background(), key, failures, 0, now)
			if err != nil {
				t.Fatal(err)
			}
			if charged := !res.Allowed; charged != tt.charged {
				t.Fatalf("failure budget charged %v, want %v", charged, tt.charged)
			}
		})
	}
}

// A limiter that fails denies with 503 wherever it is asked before a
// decision; after a failed verification, which is denied anyway, its error
// only leaves a note.
func TestLimiterErrorsFailClosed(t *testing.T) {
	for _, tt := range []struct {
		name     string
		rl       authz.RateLimitPolicy
		failOn   authz.LimitScope
		header   string
		want     authz.Reason
		inDetail string
	}{
		{"failure peek", authz.RateLimitPolicy{Failures: &authz.Limit{Rate: 1, Burst: 1}}, authz.LimitFailures, "good", authz.Unavailable, "rate limiter: backend down"},
		{"source take", authz.RateLimitPolicy{PerSource: true}, authz.LimitSource, "good", authz.Unavailable, "rate limiter: backend down"},
		{"endpoint take", authz.RateLimitPolicy{PerEndpoint: true}, authz.LimitEndpoint, "good", authz.Unavailable, "rate limiter: backend down"},
		{"failure charge", authz.RateLimitPolicy{Failures: &authz.Limit{Rate: 1, Burst: 1}}, authz.LimitFailures, "forged", authz.SignatureInvalid, "failure not counted: rate limiter: backend down"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl := tt.rl
			rl.Limit = authz.Limit{Rate: 1, Burst: 1}
			ep := &authz.Endpoint{Name: "rl", Match: authz.Match{PathPrefix: "/"}, Verifier: &stubVerifier{}, RateLimit: &rl}
			p, _ := authz.NewPolicy("r", []*authz.Endpoint{ep})
			lim := &failingLimiter{scope: tt.failOn, charges: tt.header == "forged"}
			a := authz.NewAuthorizer(authz.Config{Limiter: lim, Clock: &fakeClock{now: time.Unix(1e9, 0)}})
			a.SetPolicy(p)
			d := a.Check(context.Background(), from("192.0.2.1", post("/", authz.Header{"x-sig": tt.header}, "x")))
			if d.Reason != tt.want || !strings.Contains(d.Detail, tt.inDetail) || d.Answer().Forward {
				t.Fatalf("%s %q, want %s with %q", d.Reason, d.Detail, tt.want, tt.inDetail)
			}
		})
	}
}

// failingLimiter fails every call on one scope (only charges, cost > 0,
// when charges is set), and allows the rest.
type failingLimiter struct {
	scope   authz.LimitScope
	charges bool
}

func (l *failingLimiter) Take(_ context.Context, key authz.LimitKey, _ authz.Limit, cost int, _ time.Time) (authz.LimitResult, error) {
	if key.Scope == l.scope && (!l.charges || cost > 0) {
		return authz.LimitResult{}, errors.New("backend down")
	}
	return authz.LimitResult{Allowed: true}, nil
}

// wantHeaders checks d's answer carries want's headers with their values.
func wantHeaders(t *testing.T, d authz.Decision, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, h := range d.Answer().Header {
		got[h.Name] = h.Value
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("header %s: %q, want %q", name, got[name], v)
		}
	}
}

// BenchmarkForgedGitHub is the cost of a forged GitHub delivery with a
// 64 KiB body: verified and failed (its source's failure budget not yet
// empty), and refused before verifying (empty), next to a valid one.
func BenchmarkForgedGitHub(b *testing.B) {
	secret := authz.Secret("bench-secret")
	body := make([]byte, 64<<10)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	valid := "sha256=" + hex.EncodeToString(m.Sum(nil))
	forged := "sha256=" + hex.EncodeToString(make([]byte, 32))
	for _, c := range []struct {
		name     string
		sig      string
		failures authz.Limit
		want     authz.Reason
	}{
		{"valid", valid, authz.Limit{Rate: 1e9, Burst: 1 << 30}, authz.OK},
		{"forged-verified", forged, authz.Limit{Rate: 1e9, Burst: 1 << 30}, authz.SignatureInvalid},
		{"forged-refused-before-verifying", forged, authz.Limit{Rate: 1e-9, Burst: 1}, authz.RateLimited},
	} {
		failures := c.failures
		ep := &authz.Endpoint{Name: "github", Match: authz.Match{PathPrefix: "/"}, Verifier: verify.NewGitHub([]authz.Secret{secret}),
			RateLimit: &authz.RateLimitPolicy{Limit: authz.Limit{Rate: 1e9, Burst: 1 << 30}, PerSource: true, PerEndpoint: true, Failures: &failures}}
		p, err := authz.NewPolicy("bench", []*authz.Endpoint{ep})
		if err != nil {
			b.Fatal(err)
		}
		a := authz.NewAuthorizer(authz.Config{Limiter: ratelimit.NewMemory(), Clock: &fakeClock{now: time.Unix(1e9, 0)}})
		a.SetPolicy(p)
		r := from("203.0.113.9", benchRequest("/", body, authz.Header{"x-hub-signature-256": c.sig}))
		a.Check(context.Background(), r) // spends the one failure of the last case
		if d := a.Check(context.Background(), r); d.Reason != c.want {
			b.Fatalf("%s: %s, want %s", c.name, d.Reason, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Check(context.Background(), r)
			}
		})
	}
}
