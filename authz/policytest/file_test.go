package policytest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz/policy"
)

// TestFileDiagnostics checks that a broken test file is reported as a
// broken policy file is: every problem, each with file:line, the field's
// path from the top of the file and what is wrong, naming the valid fields
// and the one most likely meant.
func TestFileDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // the diagnostics, without "FILE:"
	}{
		{"misspelt top-level field", "test:\n  - name: a\n", []string{
			`1: test: unknown field "test"; did you mean tests? (valid: secrets, now, tests)`}},
		{"misspelt request field", "tests:\n  - name: a\n    request:\n      path: /a\n      heders: {x-a: b}\n    expect: {status: 200}\n", []string{
			`5: tests[0].request.heders: unknown field "heders"; did you mean headers? (valid: method, scheme, host, path, query, headers, body, body_file, body_truncated, source, principal, endpoint)`}},
		{"misspelt sign field, then another case's", "tests:\n  - name: a\n    request: {path: /a}\n    sign: {scheme: github, secert: S}\n    expect: {status: 200}\n  - name: b\n    request: {path: /a}\n    expect: {status: 200, verfied: true}\n", []string{
			`4: tests[0].sign.secert: unknown field "secert"; did you mean secret? (valid: scheme, secret, id, time, key_id, provider, version)`,
			`8: tests[1].expect.verfied: unknown field "verfied"; did you mean verified? (valid: decision, `}},
		{"nothing close", "tests:\n  - name: a\n    request: {path: /a}\n    expect: {verdict: allow}\n", []string{
			`4: tests[0].expect.verdict: unknown field "verdict" (valid: decision, `}},
		{"wrong shapes", "tests:\n  - name: a\n    request: {path: /a, headers: [x-a]}\n    repeat: twice\n    expect: {status: 200, headers: {removed: x-a}}\n", []string{
			`3: tests[0].request.headers: must be a mapping`,
			`4: tests[0].repeat: must be a number`,
			`5: tests[0].expect.headers.removed: must be a list`}},
		{"number out of range", "tests:\n  - name: a\n    request: {path: /a}\n    expect: {status: 99999999999}\n", []string{
			`invalid value for int32 field status: 99999999999`}},
		{"bad times", "now: soon\ntests:\n  - name: a\n    now: 2026-13-01\n    request: {path: /a}\n    sign: {scheme: github, time: yesterday}\n    expect: {status: 200}\n", []string{
			`1: now: "soon" is not a time: write it as RFC 3339, such as 2026-01-01T12:00:00Z, or a date`,
			`4: tests[0].now: "2026-13-01" is not a time`,
			`6: tests[0].sign.time: "yesterday" is not a time`}},
		{"YAML syntax", "tests:\n  - name: a\n    request: {path: /a\n", []string{
			`invalid YAML: `}},
		{"duplicate key", "tests: []\ntests: []\n", []string{
			`2: invalid YAML: yaml: unmarshal errors: line 2: key "tests" already set in map`}},
		{"empty file", "# nothing yet\n", []string{
			`tests: no cases: a test file needs at least one`}},
		{"empty case", "tests:\n  -\n", []string{
			`2: tests[0]: must be a mapping`}},
		{"header names in upper case", "tests:\n  - name: a\n    request:\n      path: /a\n      headers:\n        X-A: b\n    expect: {status: 200}\n", []string{
			`6: tests[0].request.headers.X-A: header names are lower case`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x_test.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := ParseFile(path)
			var errs policy.Errors
			if f != nil || !errors.As(err, &errs) {
				t.Fatalf("ParseFile = %v, %v; want policy.Errors", f, err)
			}
			if len(errs) != len(tc.want) {
				t.Errorf("%d diagnostics, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, want := range tc.want {
				if i >= len(errs) {
					break
				}
				got := errs[i].Error()
				if sep := ":"; !strings.HasPrefix(want, "invalid") && !strings.HasPrefix(want, "tests:") {
					want = path + sep + want
				}
				if !strings.HasPrefix(got, want) && !strings.Contains(got, want) {
					t.Errorf("diagnostic %d:\n got %s\nwant %s", i, got, want)
				}
				if errs[i].File != path {
					t.Errorf("diagnostic %d names file %q", i, errs[i].File)
				}
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ok_test.yaml")
	os.WriteFile(path, []byte(`
secrets: {env: {A: a}, files: {s/next: "n\n"}}
now: 2026-02-03T04:05:06Z
tests:
  - name: one
    now: 2026-02-04
    request:
      method: PUT
      path: /a
      headers: {x-a: b}
      bodyFile: testdata/x.json   # the JSON name is accepted, as in policies
    sign: {scheme: github, secret: A, time: 2026-02-04T00:00:01+01:00, key_id: k}
    repeat: 2
    expect:
      status: 409
      verified: false
      headers: {set: {x-b: c}, removed: [x-a], not_set: [x-c]}
  - name: two
    request: {endpoint: e}
    expect: {decision: allow}
`), 0o644)
	f, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != path || f.Secrets.Env["A"] != "a" || f.Secrets.Files["s/next"] != "n\n" || !f.Now.Equal(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)) || len(f.Tests) != 2 {
		t.Fatalf("file %+v", f)
	}
	c := f.Tests[0]
	if c.Name != "one" || c.Line != 5 || !c.Now.Equal(time.Date(2026, 2, 4, 0, 0, 0, 0, time.UTC)) || c.Repeat != 2 {
		t.Errorf("case %+v", c)
	}
	if q := c.Request; q.Method != "PUT" || q.Path != "/a" || q.Headers["x-a"] != "b" || q.BodyFile != "testdata/x.json" {
		t.Errorf("request %+v", q)
	}
	if s := c.Sign; s == nil || s.Scheme != "github" || s.Secret != "A" || s.KeyID != "k" || !s.Time.Equal(time.Date(2026, 2, 3, 23, 0, 1, 0, time.UTC)) {
		t.Errorf("sign %+v", s)
	}
	e := c.Expect
	if e.Status != 409 || e.Verified == nil || *e.Verified || e.DryRun != nil || e.Headers.Set["x-b"] != "c" || e.Headers.Removed[0] != "x-a" || e.Headers.NotSet[0] != "x-c" {
		t.Errorf("expect %+v", e)
	}
	if c := f.Tests[1]; c.Line != 18 || c.Sign != nil || !c.Now.IsZero() || c.Request.Endpoint != "e" || c.Expect.Decision != Allow {
		t.Errorf("second case %+v", c)
	}
}
