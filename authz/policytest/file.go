// Package policytest runs policy tests: YAML files of example requests and
// the decisions a policy directory must take on them, the way `opa test`
// runs Rego tests. `hookguard test DIR` is a thin wrapper around [Run].
//
// A test file is any *_test.yaml or *_test.yml file in a policy directory
// (the loader skips them, so they live next to the policies they test):
//
//	# Secrets the policies reference, for the tests only: nothing is read
//	# from the real environment or file system.
//	secrets:
//	  env:
//	    GITHUB_WEBHOOK_SECRET: test-secret
//	  files:
//	    /run/secrets/github-next: next-secret   # or relative to the directory
//	# The clock every case runs at (default 2026-01-01T00:00:00Z).
//	now: 2026-01-01T00:00:00Z
//	tests:
//	  - name: a signed push is allowed
//	    request:
//	      method: POST                  # default POST
//	      host: hooks.example.com       # default localhost
//	      path: /webhooks/github
//	      headers: {x-github-event: push}
//	      body: '{"zen": "hi"}'         # or body_file: testdata/push.json
//	      source: 203.0.113.7           # address[:port] Envoy saw
//	      principal: spiffe://partner.example/sender  # client certificate identity
//	      endpoint: github              # Envoy's hookguard.endpoint, if the route names it
//	    sign:                           # let hookguard sign the request
//	      scheme: github
//	      secret: GITHUB_WEBHOOK_SECRET # which test secret; optional when there is one
//	    expect:
//	      decision: allow               # allow, deny or handshake: what happens to the request
//	      status: 200
//	      reason: ok
//	      endpoint: github
//	      headers:
//	        set: {x-webhook-source: github}
//	        removed: [x-hub-signature-256]
//
// Each case runs in-process against a fresh replay cache and rate limiter,
// at the file's (or the case's own) `now`; `repeat: N` sends the request N
// times and checks the last answer, for replay and rate-limit tests. The
// policy directory is loaded once per test file with that file's secrets,
// backed by those of the directory's other test files, so each file sets
// only the secrets of the endpoints it tests; a secret no file sets gets a
// random placeholder nobody can sign with. Signing (`sign.secret`) uses the
// file's own secrets only.
//
// The format is defined in proto/hookguard/policytest/v1/policytest.proto
// and read the way policy files are (see [policy.DecodeYAML]): unknown
// fields are errors, and every problem is reported with its file, line and
// field path, such as
//
//	gh_test.yaml:9: tests[0].expect.decison: unknown field "decison"; did you mean decision? (valid: ...)
//
// Editors check a test file as it is typed, with completion and the fields'
// documentation, from the JSON Schema generated from that definition: with
// the yaml-language-server (VS Code's YAML extension and others), start the
// file with
//
//	# yaml-language-server: $schema=<path or URL of proto/hookguard/policytest/v1/policytest.schema.json>
package policytest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/policy"
	policytestv1 "github.com/hookguard/hookguard/proto/hookguard/policytest/v1"
)

// DefaultNow is the clock of a test file that sets no `now`.
var DefaultNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one parsed test file. The fields mirror the message TestFile of
// proto/hookguard/policytest/v1, where each is documented.
type File struct {
	// Path is the file's path.
	Path string
	// Secrets are the test secrets.
	Secrets Secrets
	// Now is the clock of every case that sets none; zero means DefaultNow.
	Now time.Time
	// Tests are the cases, in file order.
	Tests []*Case
}

// Secrets are the secret values a test file gives the policy's references.
type Secrets struct {
	// Env maps environment variable names to values.
	Env map[string]string
	// Files maps secret file paths, absolute or relative to the policy
	// directory as in the policy, to contents.
	Files map[string]string
}

// orElse returns s with every name it lacks taken from other.
func (s Secrets) orElse(other Secrets) Secrets {
	merge := func(own, more map[string]string) map[string]string {
		out := make(map[string]string, len(own)+len(more))
		for k, v := range more {
			out[k] = v
		}
		for k, v := range own {
			out[k] = v
		}
		return out
	}
	return Secrets{Env: merge(s.Env, other.Env), Files: merge(s.Files, other.Files)}
}

// Case is one test: a request and what must happen to it.
type Case struct {
	// Name says what the case shows; unique within the file.
	Name string
	// Line is where the case starts in its file.
	Line int
	// Now overrides the file's clock for this case.
	Now time.Time
	// Request is the request sent.
	Request Request
	// Sign, if set, signs the request with a test secret.
	Sign *Sign
	// Repeat sends the request this many times (default 1) and checks the
	// last answer: with 2, a replayed delivery; with N, a rate limit.
	Repeat int
	// Expect is what must happen.
	Expect Expect
}

// Request is the request of a case, as Envoy would describe it.
type Request struct {
	Method  string
	Scheme  string
	Host    string
	Path    string
	Query   string
	Headers map[string]string
	// Body is the raw body; BodyFile, relative to the test file, holds it
	// instead.
	Body     string
	BodyFile string
	// BodyTruncated says Envoy sent only part of the body.
	BodyTruncated bool
	// Source is the downstream address, "203.0.113.7" or "[2001:db8::1]:443".
	Source string
	// Principal is the client certificate's identity.
	Principal string
	// Endpoint is the route's hookguard.endpoint context extension.
	Endpoint string
}

// Sign asks hookguard to sign the request as the scheme's provider would.
type Sign struct {
	// Scheme is the scheme, as in the policy's verify block.
	Scheme string
	// Secret names the key to sign with: a key of secrets.env or
	// secrets.files. Optional when the file has exactly one secret. For an
	// asymmetric scheme it names the private key, which the policy never
	// references.
	Secret string
	// ID is the delivery id; default a fixed id made from the case name.
	ID string
	// Time is the signed timestamp; default the case's now.
	Time time.Time
	// KeyID names the key, for HTTP message signatures.
	KeyID string
	// Provider is a provider of the catalog, instead of Scheme; Version
	// one of its signature versions other than the newest.
	Provider, Version string
}

// Expect is what must happen to a request. Only what is set is checked.
type Expect struct {
	// Decision is allow (the request goes upstream, a DRY_RUN failure
	// included), deny, or handshake (hookguard answered it itself).
	Decision string
	// Status is the HTTP status: 200 when allowed, the denial's otherwise.
	Status int
	// Reason is the reason code, such as ok or signature_invalid.
	Reason string
	// Endpoint is the endpoint that matched. For a request that matches
	// none, expect reason no_endpoint.
	Endpoint string
	// Verified, when set, is whether the signature checked out.
	Verified *bool
	// DryRun, when set, is whether the endpoint is in DRY_RUN mode.
	DryRun *bool
	// DeliveryID is the delivery id hookguard reports.
	DeliveryID string
	// DetailContains must appear in the decision's log detail.
	DetailContains string
	// Headers are the changes to the upstream request.
	Headers HeaderExpect
	// ResponseHeaders must be among the headers of the denial or
	// handshake answer, such as retry-after.
	ResponseHeaders map[string]string
	// ResponseBodyContains must appear in hookguard's own answer to a
	// handshake.
	ResponseBodyContains string
}

// HeaderExpect checks the header changes of an allowed request.
type HeaderExpect struct {
	// Set are headers that must be set, with these values.
	Set map[string]string
	// Removed are headers that must be removed.
	Removed []string
	// NotSet are headers that must not be set.
	NotSet []string
}

// The decisions Expect.Decision names.
const (
	Allow     = "allow"
	Deny      = "deny"
	Handshake = "handshake"
)

// IsTestFile reports whether name is a policy test file's name.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}

// ParseFile reads and checks a test file. Unknown fields are errors, so a
// misspelt expectation cannot pass silently. The error lists every problem
// found, as [policy.Errors].
func ParseFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pb policytestv1.TestFile
	doc, errs := policy.DecodeYAML(path, data, &pb)
	if errs != nil {
		return nil, errs
	}
	report := func(field, msg string) { errs = append(errs, doc.Diagnostic(field, msg)) }
	f := &File{
		Path:    path,
		Secrets: Secrets{Env: pb.GetSecrets().GetEnv(), Files: pb.GetSecrets().GetFiles()},
		Now:     parseTime(pb.GetNow(), "now", report),
	}
	if f.Now.IsZero() {
		f.Now = DefaultNow
	}
	seen := map[string]bool{}
	for i, pc := range pb.GetTests() {
		at := fmt.Sprintf("tests[%d]", i)
		c := newCase(pc, at, report)
		c.Line = doc.Line(at)
		c.check(at, seen, report)
		f.Tests = append(f.Tests, c)
	}
	if len(f.Tests) == 0 {
		report("tests", "no cases: a test file needs at least one")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

// newCase converts a decoded case, reporting times that do not parse.
func newCase(pc *policytestv1.Case, at string, report func(field, msg string)) *Case {
	q, e := pc.GetRequest(), pc.GetExpect()
	c := &Case{
		Name:   pc.GetName(),
		Now:    parseTime(pc.GetNow(), at+".now", report),
		Repeat: int(pc.GetRepeat()),
		Request: Request{
			Method:        q.GetMethod(),
			Scheme:        q.GetScheme(),
			Host:          q.GetHost(),
			Path:          q.GetPath(),
			Query:         q.GetQuery(),
			Headers:       q.GetHeaders(),
			Body:          q.GetBody(),
			BodyFile:      q.GetBodyFile(),
			BodyTruncated: q.GetBodyTruncated(),
			Source:        q.GetSource(),
			Principal:     q.GetPrincipal(),
			Endpoint:      q.GetEndpoint(),
		},
		Expect: Expect{
			Decision:       e.GetDecision(),
			Status:         int(e.GetStatus()),
			Reason:         e.GetReason(),
			Endpoint:       e.GetEndpoint(),
			Verified:       e.Verified,
			DryRun:         e.DryRun,
			DeliveryID:     e.GetDeliveryId(),
			DetailContains: e.GetDetailContains(),
			Headers: HeaderExpect{
				Set:     e.GetHeaders().GetSet(),
				Removed: e.GetHeaders().GetRemoved(),
				NotSet:  e.GetHeaders().GetNotSet(),
			},
			ResponseHeaders:      e.GetResponseHeaders(),
			ResponseBodyContains: e.GetResponseBodyContains(),
		},
	}
	if s := pc.GetSign(); s != nil {
		c.Sign = &Sign{
			Scheme:   s.GetScheme(),
			Secret:   s.GetSecret(),
			ID:       s.GetId(),
			Time:     parseTime(s.GetTime(), at+".sign.time", report),
			KeyID:    s.GetKeyId(),
			Provider: s.GetProvider(),
			Version:  s.GetVersion(),
		}
	}
	return c
}

// timeLayouts are the forms a time may take: RFC 3339, or a date for
// midnight UTC.
var timeLayouts = []string{time.RFC3339Nano, time.DateOnly}

// parseTime parses a time field; "" is the zero time.
func parseTime(s, field string, report func(field, msg string)) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	report(field, fmt.Sprintf("%q is not a time: write it as RFC 3339, such as 2026-01-01T12:00:00Z, or a date", s))
	return time.Time{}
}

// check reports what is wrong with the case at path at.
func (c *Case) check(at string, seen map[string]bool, report func(field, msg string)) {
	switch {
	case c.Name == "":
		report(at+".name", "required")
	case seen[c.Name]:
		report(at+".name", fmt.Sprintf("%q is used twice", c.Name))
	}
	seen[c.Name] = true
	if c.Request.Path == "" && c.Request.Endpoint == "" {
		report(at+".request", "set path, or endpoint when the route names it")
	}
	if c.Request.Body != "" && c.Request.BodyFile != "" {
		report(at+".request", "set body or body_file, not both")
	}
	for _, name := range sortedKeys(c.Request.Headers) {
		if name != strings.ToLower(name) {
			report(at+".request.headers."+name, "header names are lower case")
		}
	}
	if c.Sign != nil && (c.Sign.Scheme == "") == (c.Sign.Provider == "") {
		report(at+".sign.scheme", "set scheme or provider")
	}
	if c.Repeat < 0 {
		report(at+".repeat", "must be at least 1")
	}
	e := c.Expect
	if e.Decision != "" && !slices.Contains([]string{Allow, Deny, Handshake}, e.Decision) {
		report(at+".expect.decision", fmt.Sprintf("%q is not allow, deny or handshake", e.Decision))
	}
	if e.Reason != "" && !slices.Contains(authz.Reasons(), authz.Reason(e.Reason)) {
		report(at+".expect.reason", fmt.Sprintf("unknown reason %q", e.Reason))
	}
	if e.Decision == "" && e.Reason == "" && e.Status == 0 {
		report(at+".expect", "set at least one of decision, reason and status")
	}
}

// secretSource serves a test file's secrets to the policy loader. Nothing
// reaches the real environment or file system. A reference the file does
// not set gets a placeholder no case can sign with, so a file sets only the
// secrets its own cases need, and the policy still loads whole.
type secretSource struct {
	env   map[string]string
	files map[string]string // absolute path → content
}

func newSecretSource(s Secrets, policyDir string) *secretSource {
	src := &secretSource{env: s.Env, files: map[string]string{}}
	for path, content := range s.Files {
		src.files[resolve(policyDir, path)] = content
	}
	return src
}

// resolve makes a secret file path absolute the way the loader does for a
// path in a policy file: relative to the policy directory.
func resolve(dir, path string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// placeholder is the value of a secret the test file does not set: random
// per run, so no case can forge a request with it.
var placeholder = func() string {
	var b [16]byte
	rand.Read(b[:])
	return "policytest-unset-" + hex.EncodeToString(b[:])
}()

func (s *secretSource) LookupEnv(name string) (string, bool) {
	if v, ok := s.env[name]; ok {
		return v, true
	}
	return placeholder, true
}

func (s *secretSource) ReadFile(path string) ([]byte, error) {
	if v, ok := s.files[resolve("", path)]; ok {
		return []byte(v), nil
	}
	return []byte(placeholder), nil
}

// signingKey returns the secret a case signs with.
func (f *File) signingKey(name string) (authz.Secret, error) {
	if name == "" {
		if n := len(f.Secrets.Env) + len(f.Secrets.Files); n != 1 {
			return nil, fmt.Errorf("sign.secret: name the secret to sign with (the file has %d)", n)
		}
		for _, v := range f.Secrets.Env {
			return authz.Secret(v), nil
		}
		for _, v := range f.Secrets.Files {
			return policy.FileSecret([]byte(v)), nil
		}
	}
	if v, ok := f.Secrets.Env[name]; ok {
		return authz.Secret(v), nil
	}
	if v, ok := f.Secrets.Files[name]; ok {
		return policy.FileSecret([]byte(v)), nil
	}
	return nil, fmt.Errorf("sign.secret: %q is in neither secrets.env nor secrets.files", name)
}
