package verify

import (
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// Shared test machinery: every scheme's test file runs its published
// vectors through its own table, then the common suite below, which signs
// with the scheme's signer and checks what every scheme must refuse.

// t0 is the suites' delivery time.
var t0 = time.Unix(1_700_000_000, 0)

// request builds a request with lower-cased header names, as the core gives
// verifiers.
func request(method, rawURL string, body []byte, headers ...authz.HeaderValue) *authz.Request {
	r := &authz.Request{Method: method, Body: body, Header: authz.Header{}, Scheme: "https", Host: "hooks.example.com", Path: "/hook"}
	if rawURL != "" {
		if err := splitURL(rawURL, r); err != nil {
			panic(err)
		}
	}
	for _, h := range headers {
		r.Header[strings.ToLower(h.Name)] = h.Value
	}
	return r
}

// clone copies r deeply enough to mutate headers and body.
func clone(r *authz.Request) *authz.Request {
	c := *r
	c.Header = authz.Header{}
	for k, v := range r.Header {
		c.Header[k] = v
	}
	c.Body = bytes.Clone(r.Body)
	return &c
}

// reasonOf is authz.ReasonOf for tests.
func reasonOf(err error) authz.Reason { return authz.ReasonOf(err) }

// checkReason fails t unless err carries want.
func checkReason(t *testing.T, err error, want authz.Reason) {
	t.Helper()
	if got := reasonOf(err); got != want {
		t.Fatalf("reason = %s (%v), want %s", got, err, want)
	}
}

// headerVector is a value of a scheme's signature header and the reason
// Verify must give for it.
type headerVector struct {
	name, value string
	want        authz.Reason
}

// runHeaderVectors verifies body with each vector in header, at t0.
func runHeaderVectors(t *testing.T, v authz.Verifier, header, body string, vectors []headerVector) {
	t.Helper()
	for _, c := range vectors {
		t.Run(c.name, func(t *testing.T) {
			r := request("POST", "", []byte(body), authz.HeaderValue{Name: header, Value: c.value})
			_, err := v.Verify(r, t0)
			checkReason(t, err, c.want)
		})
	}
}

// schemeSuites maps a scheme's name to the test running its common
// suites, which the scheme's test file adds from an init function.
// TestSuites runs them for every registered scheme, and fails for a scheme
// with none: a new scheme cannot skip the suite by forgetting it.
var schemeSuites = map[string]func(t *testing.T){}

// withoutSuite maps a scheme to why the common suite cannot apply to it,
// as its test file says; that file then tests what applies.
var withoutSuite = map[string]string{}

// TestSuites runs the common suites of every registered scheme.
func TestSuites(t *testing.T) {
	for _, s := range All() {
		run, ok := schemeSuites[s.Name]
		if why, exempt := withoutSuite[s.Name]; exempt {
			if ok {
				t.Errorf("%s: both a suite and a reason to have none (%s)", s.Name, why)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no common suite; add one to schemeSuites in its test file", s.Name)
			continue
		}
		t.Run(s.Name, run)
	}
}

// suite describes one scheme for runSuite.
type suite struct {
	scheme string
	// verifier builds the verifier accepting keys (secrets, or public keys
	// matching signKeys).
	verifier func(t *testing.T, keys ...authz.Secret) authz.Verifier
	// signKeys[i] signs what verifyKeys[i] verifies; at least three pairs.
	signKeys, verifyKeys []authz.Secret
	msg                  Message
	// sigHeader is the signature header; tsHeader the timestamp header
	// ("" when the timestamp is elsewhere or absent).
	sigHeader, tsHeader string
	// tolerance is the verifier's tolerance; zero when the scheme has no
	// timestamp.
	tolerance time.Duration
	// malformed are signature header values that must be SignatureInvalid.
	malformed []string
	// stableReplayKey: the replay key is a signed delivery id, so a
	// re-signed retry keeps it.
	stableReplayKey bool
	// toRequest turns signed headers into the request; nil means a POST
	// to hooks.example.com/hook.
	toRequest func(h []authz.HeaderValue, m Message) *authz.Request
	// prepare, when set, adjusts a message before it is signed, as the
	// provider would (Twilio puts a JSON body's digest in the URL).
	prepare func(m Message) Message
	// signer, when set, signs instead of the scheme's registered signer,
	// for a scheme without one.
	signer func(key authz.Secret, m Message) ([]authz.HeaderValue, error)
}

func (s *suite) sign(t *testing.T, key authz.Secret, m Message) *authz.Request {
	t.Helper()
	if s.prepare != nil {
		m = s.prepare(m)
	}
	var h []authz.HeaderValue
	var err error
	if s.signer != nil {
		h, err = s.signer(key, m)
	} else {
		h, err = Sign(s.scheme, key, m)
	}
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if s.toRequest != nil {
		return s.toRequest(h, m)
	}
	return request("POST", m.URL, m.Body, h...)
}

// runSuite runs the checks every scheme must pass.
func runSuite(t *testing.T, s suite) {
	m := s.msg
	if m.Time.IsZero() {
		m.Time = t0
	}
	if m.ID == "" {
		m.ID = "delivery-1"
	}
	now := m.Time.Add(time.Second)
	v := s.verifier(t, s.verifyKeys[0])
	checkTraits(t, s.scheme, v)
	good := s.sign(t, s.signKeys[0], m)

	type tc struct {
		name string
		v    authz.Verifier
		r    *authz.Request
		now  time.Time
		want authz.Reason
	}
	mutate := func(f func(r *authz.Request)) *authz.Request {
		r := clone(good)
		f(r)
		return r
	}
	cases := []tc{
		{"valid", v, good, now, authz.OK},
		{"wrong secret", v, s.sign(t, s.signKeys[1], m), now, authz.SignatureInvalid},
		{"mutated body", v, mutate(func(r *authz.Request) { r.Body = append(r.Body, ' ') }), now, authz.SignatureInvalid},
		{"missing signature", v, mutate(func(r *authz.Request) { delete(r.Header, s.sigHeader) }), now, authz.SignatureMissing},
		{"oversized signature", v, mutate(func(r *authz.Request) { r.Header[s.sigHeader] = strings.Repeat("a", maxSignatureHeader+1) }), now, authz.SignatureInvalid},
		{"rotation: old key", s.verifier(t, s.verifyKeys[1], s.verifyKeys[0]), good, now, authz.OK},
		{"rotation: new key", s.verifier(t, s.verifyKeys[1], s.verifyKeys[0]), s.sign(t, s.signKeys[1], m), now, authz.OK},
		{"rotation: removed key", s.verifier(t, s.verifyKeys[1], s.verifyKeys[2]), good, now, authz.SignatureInvalid},
	}
	for i, bad := range s.malformed {
		cases = append(cases, tc{"malformed " + string(rune('a'+i)), v, mutate(func(r *authz.Request) { r.Header[s.sigHeader] = bad }), now, authz.SignatureInvalid})
	}
	if s.tolerance > 0 {
		cases = append(cases,
			tc{"at the edge, old", v, good, m.Time.Add(s.tolerance), authz.OK},
			tc{"at the edge, future", v, good, m.Time.Add(-s.tolerance), authz.OK},
			tc{"stale", v, good, m.Time.Add(s.tolerance + time.Second), authz.TimestampOutOfWindow},
			tc{"future", v, good, m.Time.Add(-s.tolerance - time.Second), authz.TimestampOutOfWindow},
		)
	}
	if s.tsHeader != "" {
		cases = append(cases,
			tc{"missing timestamp", v, mutate(func(r *authz.Request) { delete(r.Header, s.tsHeader) }), now, authz.SignatureMissing},
			tc{"mutated timestamp", v, s.withTimestamp(t, good, m.Time.Add(time.Second)), now, authz.SignatureInvalid},
			tc{"timestamp not a number", v, mutate(func(r *authz.Request) { r.Header[s.tsHeader] = "12ab" }), now, authz.SignatureInvalid},
			tc{"timestamp with sign", v, mutate(func(r *authz.Request) { r.Header[s.tsHeader] = "+" + r.Header[s.tsHeader] }), now, authz.SignatureInvalid},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := clone(c.r)
			got, err := c.v.Verify(c.r, c.now)
			checkReason(t, err, c.want)
			if !equalRequests(before, c.r) {
				t.Fatal("Verify modified the request")
			}
			if c.want == authz.OK && got.ReplayKey == nil {
				t.Fatal("no replay key")
			}
			if err != nil && strings.Contains(err.Error(), string(s.verifyKeys[0])) {
				t.Fatal("error quotes the key")
			}
		})
	}

	t.Run("replay key", func(t *testing.T) {
		a, err := v.Verify(good, now)
		checkReason(t, err, authz.OK)
		b, err := v.Verify(clone(good), now)
		checkReason(t, err, authz.OK)
		if !bytes.Equal(a.ReplayKey, b.ReplayKey) {
			t.Fatal("same request, different replay keys")
		}
		other := m
		other.Body = append(bytes.Clone(m.Body), ' ')
		if s.stableReplayKey {
			other.ID = "delivery-2"
		}
		c, err := v.Verify(s.sign(t, s.signKeys[0], other), now)
		checkReason(t, err, authz.OK)
		if bytes.Equal(a.ReplayKey, c.ReplayKey) {
			t.Fatal("another delivery has the same replay key")
		}
		if s.tolerance > 0 {
			retry := m
			retry.Time = m.Time.Add(time.Second)
			d, err := v.Verify(s.sign(t, s.signKeys[0], retry), now)
			checkReason(t, err, authz.OK)
			if s.stableReplayKey != bytes.Equal(a.ReplayKey, d.ReplayKey) {
				t.Fatalf("re-signed retry: same replay key = %v, want %v", !s.stableReplayKey, s.stableReplayKey)
			}
		}
	})
}

// checkTraits fails t unless v, of the named scheme, has the traits its
// registration declares.
func checkTraits(t *testing.T, scheme string, v authz.Verifier) {
	t.Helper()
	s, ok := Lookup(scheme)
	if !ok {
		return
	}
	if _, ok := v.(*ProviderVerifier); !ok && v.Scheme() != s.Name {
		t.Errorf("verifier's Scheme() = %q, registered as %q", v.Scheme(), s.Name)
	}
	if _, ok := v.(Timestamped); ok != s.Timestamped {
		t.Errorf("%s: implements Timestamped: %v, registered Timestamped: %v", s.Name, ok, s.Timestamped)
	}
	if _, ok := v.(authz.Handshaker); ok != s.Handshakes {
		t.Errorf("%s: implements authz.Handshaker: %v, registered Handshakes: %v", s.Name, ok, s.Handshakes)
	}
	if !s.Replayable {
		t.Errorf("%s: the common suite expects replay keys, but the scheme is not Replayable", s.Name)
	}
}

// withTimestamp returns r with its timestamp header (only) changed to ts.
func (s *suite) withTimestamp(t *testing.T, r *authz.Request, ts time.Time) *authz.Request {
	t.Helper()
	m := s.msg
	m.Time = ts
	if m.ID == "" {
		m.ID = "delivery-1"
	}
	resigned := s.sign(t, s.signKeys[0], m)
	out := clone(r)
	out.Header[s.tsHeader] = resigned.Header[s.tsHeader]
	if out.Header[s.tsHeader] == r.Header[s.tsHeader] {
		t.Fatal("timestamp did not change")
	}
	return out
}

func equalRequests(a, b *authz.Request) bool {
	if !bytes.Equal(a.Body, b.Body) || len(a.Header) != len(b.Header) || a.Path != b.Path || a.Query != b.Query || a.Host != b.Host {
		return false
	}
	for k, v := range a.Header {
		if b.Header[k] != v {
			return false
		}
	}
	return true
}

// secrets makes Secrets of strings.
func secrets(s ...string) []authz.Secret {
	out := make([]authz.Secret, len(s))
	for i, v := range s {
		out[i] = authz.Secret(v)
	}
	return out
}

// hmacKeys are sign/verify pairs for HMAC suites: the same secret.
var hmacKeys = secrets("first-secret", "second-secret", "third-secret")

func hexString(b []byte) string { return hex.EncodeToString(b) }

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// randReader is crypto/rand's reader; tests that need keys take it here so
// the dependency shows.
func randReader(*testing.T) io.Reader { return rand.Reader }

type bigInt = big.Int

func p256N() *big.Int { return elliptic.P256().Params().N }
