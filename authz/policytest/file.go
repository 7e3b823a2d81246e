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
package policytest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/policy"
)

// DefaultNow is the clock of a test file that sets no `now`.
var DefaultNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one parsed test file.
type File struct {
	// Path is the file's path.
	Path string `yaml:"-"`
	// Secrets are the test secrets.
	Secrets Secrets `yaml:"secrets"`
	// Now is the clock of every case that sets none; zero means DefaultNow.
	Now time.Time `yaml:"now"`
	// Tests are the cases, in file order.
	Tests []*Case `yaml:"tests"`
}

// Secrets are the secret values a test file gives the policy's references.
type Secrets struct {
	// Env maps environment variable names to values.
	Env map[string]string `yaml:"env"`
	// Files maps secret file paths, absolute or relative to the policy
	// directory as in the policy, to contents.
	Files map[string]string `yaml:"files"`
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
	Name string `yaml:"name"`
	// Line is where the case starts in its file.
	Line int `yaml:"-"`
	// Now overrides the file's clock for this case.
	Now time.Time `yaml:"now"`
	// Request is the request sent.
	Request Request `yaml:"request"`
	// Sign, if set, signs the request with a test secret.
	Sign *Sign `yaml:"sign"`
	// Repeat sends the request this many times (default 1) and checks the
	// last answer: with 2, a replayed delivery; with N, a rate limit.
	Repeat int `yaml:"repeat"`
	// Expect is what must happen.
	Expect Expect `yaml:"expect"`
}

// Request is the request of a case, as Envoy would describe it.
type Request struct {
	Method  string            `yaml:"method"`
	Scheme  string            `yaml:"scheme"`
	Host    string            `yaml:"host"`
	Path    string            `yaml:"path"`
	Query   string            `yaml:"query"`
	Headers map[string]string `yaml:"headers"`
	// Body is the raw body; BodyFile, relative to the test file, holds it
	// instead.
	Body     string `yaml:"body"`
	BodyFile string `yaml:"body_file"`
	// BodyTruncated says Envoy sent only part of the body.
	BodyTruncated bool `yaml:"body_truncated"`
	// Source is the downstream address, "203.0.113.7" or "[2001:db8::1]:443".
	Source string `yaml:"source"`
	// Principal is the client certificate's identity.
	Principal string `yaml:"principal"`
	// Endpoint is the route's hookguard.endpoint context extension.
	Endpoint string `yaml:"endpoint"`
}

// Sign asks hookguard to sign the request as the scheme's provider would.
type Sign struct {
	// Scheme is the scheme, as in the policy's verify block.
	Scheme string `yaml:"scheme"`
	// Secret names the key to sign with: a key of secrets.env or
	// secrets.files. Optional when the file has exactly one secret. For an
	// asymmetric scheme it names the private key, which the policy never
	// references.
	Secret string `yaml:"secret"`
	// ID is the delivery id; default a fixed id made from the case name.
	ID string `yaml:"id"`
	// Time is the signed timestamp; default the case's now.
	Time time.Time `yaml:"time"`
	// KeyID names the key, for HTTP message signatures.
	KeyID string `yaml:"key_id"`
}

// Expect is what must happen to a request. Only what is set is checked.
type Expect struct {
	// Decision is allow (the request goes upstream, a DRY_RUN failure
	// included), deny, or handshake (hookguard answered it itself).
	Decision string `yaml:"decision"`
	// Status is the HTTP status: 200 when allowed, the denial's otherwise.
	Status int `yaml:"status"`
	// Reason is the reason code, such as ok or signature_invalid.
	Reason string `yaml:"reason"`
	// Endpoint is the endpoint that matched. For a request that matches
	// none, expect reason no_endpoint.
	Endpoint string `yaml:"endpoint"`
	// Verified, when set, is whether the signature checked out.
	Verified *bool `yaml:"verified"`
	// DryRun, when set, is whether the endpoint is in DRY_RUN mode.
	DryRun *bool `yaml:"dry_run"`
	// DeliveryID is the delivery id hookguard reports.
	DeliveryID string `yaml:"delivery_id"`
	// DetailContains must appear in the decision's log detail.
	DetailContains string `yaml:"detail_contains"`
	// Headers are the changes to the upstream request.
	Headers HeaderExpect `yaml:"headers"`
	// ResponseHeaders must be among the headers of the denial or
	// handshake answer, such as retry-after.
	ResponseHeaders map[string]string `yaml:"response_headers"`
	// ResponseBodyContains must appear in hookguard's own answer to a
	// handshake.
	ResponseBodyContains string `yaml:"response_body_contains"`
}

// HeaderExpect checks the header changes of an allowed request.
type HeaderExpect struct {
	// Set are headers that must be set, with these values.
	Set map[string]string `yaml:"set"`
	// Removed are headers that must be removed.
	Removed []string `yaml:"removed"`
	// NotSet are headers that must not be set.
	NotSet []string `yaml:"not_set"`
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

// yamlLine finds "line N" in a yaml.v3 error.
var yamlLine = regexp.MustCompile(`line (\d+): `)

// ParseFile reads and checks a test file. Unknown fields are errors, so a
// misspelt expectation cannot pass silently.
func ParseFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", path, cleanYAMLError(err))
	}
	f := &File{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("%s: %s", path, cleanYAMLError(err))
	}
	f.Path = path
	if f.Now.IsZero() {
		f.Now = DefaultNow
	}
	// Number the cases from the node tree, which keeps positions.
	if len(root.Content) == 1 && root.Content[0].Kind == yaml.MappingNode {
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "tests" && m.Content[i+1].Kind == yaml.SequenceNode {
				for j, n := range m.Content[i+1].Content {
					if j < len(f.Tests) && f.Tests[j] != nil {
						f.Tests[j].Line = n.Line
					}
				}
			}
		}
	}
	var problems []string
	seen := map[string]bool{}
	for i, c := range f.Tests {
		if c == nil {
			problems = append(problems, fmt.Sprintf("%s: tests[%d] is empty", path, i))
			continue
		}
		for _, p := range c.check(seen) {
			problems = append(problems, fmt.Sprintf("%s:%d: %s", path, c.Line, p))
		}
	}
	if len(f.Tests) == 0 {
		problems = append(problems, path+": no tests")
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return f, nil
}

// cleanYAMLError turns yaml.v3's "yaml: unmarshal errors:\n  line 5: ..."
// into "5: ...", one problem per line.
func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if m := yamlLine.FindStringSubmatchIndex(l); m != nil && m[0] == 0 {
			l = l[m[2]:m[3]] + ": " + l[m[1]:]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// check reports what is wrong with a case itself.
func (c *Case) check(seen map[string]bool) []string {
	var p []string
	switch {
	case c.Name == "":
		p = append(p, "name: required")
	case seen[c.Name]:
		p = append(p, fmt.Sprintf("name: %q is used twice", c.Name))
	}
	seen[c.Name] = true
	if c.Request.Path == "" && c.Request.Endpoint == "" {
		p = append(p, "request: set path, or endpoint when the route names it")
	}
	if c.Request.Body != "" && c.Request.BodyFile != "" {
		p = append(p, "request: set body or body_file, not both")
	}
	for name := range c.Request.Headers {
		if name != strings.ToLower(name) {
			p = append(p, fmt.Sprintf("request.headers.%s: header names are lower case", name))
		}
	}
	if c.Sign != nil && c.Sign.Scheme == "" {
		p = append(p, "sign.scheme: required")
	}
	if c.Repeat < 0 {
		p = append(p, "repeat: must be at least 1")
	}
	e := c.Expect
	if e.Decision != "" && !slices.Contains([]string{Allow, Deny, Handshake}, e.Decision) {
		p = append(p, fmt.Sprintf("expect.decision: %q is not allow, deny or handshake", e.Decision))
	}
	if e.Reason != "" && !slices.Contains(authz.Reasons(), authz.Reason(e.Reason)) {
		p = append(p, fmt.Sprintf("expect.reason: unknown reason %q", e.Reason))
	}
	if e.Decision == "" && e.Reason == "" && e.Status == 0 {
		p = append(p, "expect: set at least one of decision, reason and status")
	}
	return p
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
