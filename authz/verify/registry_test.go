package verify

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// emptyRegistry gives the test a registry of its own, restored afterwards,
// so it can register schemes the program also registers.
func emptyRegistry(t *testing.T) {
	saved := registry
	registry = map[string]Scheme{}
	t.Cleanup(func() { registry = saved })
}

// fixedVerifier is a verifier that accepts everything, to see which
// constructor New called.
type fixedVerifier string

func (f fixedVerifier) Scheme() string { return string(f) }
func (fixedVerifier) Verify(*authz.Request, time.Time) (authz.Verified, error) {
	return authz.Verified{}, nil
}

// mapEnv resolves env references from a map.
type mapEnv map[string]string

func (e mapEnv) Secrets(field string, refs []*policyv1.SecretRef) ([]authz.Secret, error) {
	var out []authz.Secret
	for i, r := range refs {
		s, err := e.Secret(fmt.Sprintf("%s[%d]", field, i), r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fieldError(field, "at least one secret is required")
	}
	return out, nil
}

func (e mapEnv) Secret(field string, r *policyv1.SecretRef) (authz.Secret, error) {
	v, ok := e[r.GetEnv()]
	if !ok {
		return nil, fieldError(field+".env", "not set")
	}
	return authz.Secret(v), nil
}

func (mapEnv) Warn(string, string) {}

func TestRegisterNamesSchemeAfterOneofField(t *testing.T) {
	emptyRegistry(t)
	build := func(name string) func(*policyv1.HTTPMessageSignaturesVerify, Env) (authz.Verifier, error) {
		return func(*policyv1.HTTPMessageSignaturesVerify, Env) (authz.Verifier, error) {
			return fixedVerifier(name), nil
		}
	}
	Register(build("x"), Scheme{Replayable: true})
	s, ok := Lookup("http_message_signatures")
	if !ok || s.Name != "http_message_signatures" || !s.Replayable {
		t.Fatalf("Lookup = %+v, %v", s, ok)
	}
	if all := All(); len(all) != 1 || all[0].Name != s.Name {
		t.Fatalf("All = %+v", all)
	}
	mustPanic(t, "registered twice", func() { Register(build("y"), Scheme{}) })
	mustPanic(t, "no field", func() {
		Register(func(*policyv1.SecretRef, Env) (authz.Verifier, error) { return nil, nil }, Scheme{})
	})
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Fatalf("panic %v, want one saying %q", r, want)
		}
	}()
	f()
}

func TestNewBuildsTheSelectedScheme(t *testing.T) {
	emptyRegistry(t)
	var got *policyv1.PagerDutyVerify
	Register(func(c *policyv1.PagerDutyVerify, env Env) (authz.Verifier, error) {
		got = c
		if _, err := env.Secrets("secrets", c.GetSecrets()); err != nil {
			return nil, err
		}
		return fixedVerifier("pagerduty"), nil
	}, Scheme{})
	Register(func(*policyv1.SquareVerify, Env) (authz.Verifier, error) { return nil, nil }, Scheme{})

	cfg := &policyv1.PagerDutyVerify{Secrets: []*policyv1.SecretRef{{Source: &policyv1.SecretRef_Env{Env: "K"}}}}
	v, s, err := New(&policyv1.Verify{Scheme: &policyv1.Verify_Pagerduty{Pagerduty: cfg}}, mapEnv{"K": "k"})
	if err != nil || v != fixedVerifier("pagerduty") || s.Name != "pagerduty" || got != cfg {
		t.Fatalf("New = %v, %+v, %v; config %p, want %p", v, s.Name, err, got, cfg)
	}

	// A failing constructor still names its scheme, and its field error
	// is found with errors.As.
	v, s, err = New(&policyv1.Verify{Scheme: &policyv1.Verify_Pagerduty{Pagerduty: cfg}}, mapEnv{})
	var fe *FieldError
	if v != nil || s.Name != "pagerduty" || !errors.As(err, &fe) || fe.Field != "secrets[0].env" {
		t.Fatalf("New = %v, %q, %v", v, s.Name, err)
	}

	for name, v := range map[string]*policyv1.Verify{
		"nothing selected":         {},
		"nil":                      nil,
		"unregistered scheme":      {Scheme: &policyv1.Verify_Github{Github: &policyv1.GitHubVerify{}}},
		"constructor built no one": {Scheme: &policyv1.Verify_Square{Square: &policyv1.SquareVerify{}}},
	} {
		if vf, _, err := New(v, mapEnv{}); vf != nil || err == nil {
			t.Errorf("%s: New = %v, %v; want an error", name, vf, err)
		}
	}
}

func TestFieldError(t *testing.T) {
	err := error(&FieldError{Field: "keys[0].key", Err: errors.New("not base64")})
	if err.Error() != "keys[0].key: not base64" {
		t.Errorf("Error() = %q", err)
	}
	if whole := (&FieldError{Err: errors.New("set one")}); whole.Error() != "set one" {
		t.Errorf("Error() = %q", whole)
	}
}

// TestEveryVerifyFieldIsRegistered: each field of the policy's Verify
// oneof has a registered scheme, and each registered scheme is a field
// (Register refuses a second registration of one).
func TestEveryVerifyFieldIsRegistered(t *testing.T) {
	fields := schemeOneof.Fields()
	for i := range fields.Len() {
		name := string(fields.Get(i).Name())
		if _, ok := Lookup(name); !ok {
			t.Errorf("verify.%s: no scheme registered; its file registers one with Register from an init function", name)
		}
	}
	if n := len(All()); n != fields.Len() {
		t.Errorf("%d schemes registered for %d fields of %s", n, fields.Len(), schemeOneof.FullName())
	}
}

// TestSchemesAreTheSigners: Sign supports exactly the registered schemes
// with a signer, and refuses the others by name.
func TestSchemesAreTheSigners(t *testing.T) {
	var want []string
	for _, s := range All() {
		if s.Sign != nil {
			want = append(want, s.Name)
		} else if _, err := Sign(s.Name, authz.Secret("k"), Message{}); err == nil || !strings.Contains(err.Error(), "cannot sign") {
			t.Errorf("Sign(%s) = %v, want a refusal", s.Name, err)
		}
	}
	if got := Schemes(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Schemes() = %v, want %v", got, want)
	}
	if _, err := Sign("nope", authz.Secret("k"), Message{}); err == nil || !strings.Contains(err.Error(), "github") {
		t.Errorf("unknown scheme: %v, want an error listing the known ones", err)
	}
}
