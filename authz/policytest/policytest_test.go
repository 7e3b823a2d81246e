package policytest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const githubPolicy = `endpoints:
  - name: gh
    match: {path: /gh}
    verify: {github: {secrets: [{env: GH_SECRET}, {file: secrets/next}]}}
    on_allow: {set_headers: {x-src: github}, remove_headers: [x-hub-signature-256]}
  - name: dry
    match: {path: /dry}
    verify: {github: {secrets: [{env: GH_SECRET}]}}
    mode: DRY_RUN
`

// dir writes a policy directory.
func dir(t *testing.T, files map[string]string) string {
	t.Helper()
	d := t.TempDir()
	for name, content := range files {
		p := filepath.Join(d, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func run(t *testing.T, opts Options, dirs ...string) (Summary, string) {
	t.Helper()
	var out bytes.Buffer
	opts.Out = &out
	s := Run(dirs, opts)
	return s, out.String()
}

func TestPassingCases(t *testing.T) {
	d := dir(t, map[string]string{
		"gh.yaml": githubPolicy,
		"gh_test.yaml": `
secrets:
  env: {GH_SECRET: current}
  files: {secrets/next: "next\n"}
tests:
  - name: signed with the current secret
    request: {path: /gh, body: '{"a":1}'}
    sign: {scheme: github, secret: GH_SECRET, id: d-1}
    expect:
      decision: allow
      status: 200
      reason: ok
      endpoint: gh
      verified: true
      dry_run: false
      delivery_id: d-1
      headers: {set: {x-src: github, x-hookguard-verified: github}, removed: [x-hub-signature-256], not_set: [x-other]}
  - name: signed with the next secret, read from a secret file
    request: {path: /gh, body: '{"a":2}'}
    sign: {scheme: github, secret: secrets/next}
    expect: {decision: allow}
  - name: a replay
    request: {path: /gh, body: '{"a":3}'}
    sign: {scheme: github, secret: GH_SECRET}
    repeat: 2
    expect:
      decision: deny
      status: 409
      reason: replayed
      response_headers: {content-type: application/json}
      response_body_contains: '"error":"replayed","endpoint":"gh"'
  - name: dry run lets a failure through, unverified
    request: {path: /dry, body: x}
    expect:
      decision: deny
      status: 200
      reason: signature_missing
      dry_run: true
      verified: false
      headers: {set: {x-hookguard-endpoint: dry}, not_set: [x-hookguard-verified]}
  - name: body from a file
    request: {path: /gh, body_file: testdata/push.json}
    sign: {scheme: github, secret: GH_SECRET}
    expect: {decision: allow}
`,
		"testdata/push.json": `{"ref":"main"}`,
	})
	s, out := run(t, Options{Verbose: true}, d)
	if !s.OK() || s.Passed != 5 {
		t.Fatalf("summary %+v:\n%s", s, out)
	}
	for _, want := range []string{"--- PASS: " + d + "/gh_test.yaml:6: signed with the current secret", "ok  \t" + d, "5 passed, 0 failed\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "current") && strings.Contains(out, "secret: current") {
		t.Errorf("output shows a secret:\n%s", out)
	}
}

func TestFailingCasesShowTheDifference(t *testing.T) {
	d := dir(t, map[string]string{
		"gh.yaml": githubPolicy,
		"gh_test.yaml": `
secrets:
  env: {GH_SECRET: current, OTHER: other}
tests:
  - name: expects allow but is forged
    request: {path: /gh, body: x}
    sign: {scheme: github, secret: OTHER}
    expect: {decision: allow, status: 200, reason: ok}
  - name: expects a header that is not set
    request: {path: /gh, body: y}
    sign: {scheme: github, secret: GH_SECRET}
    expect: {decision: allow, headers: {set: {x-src: gitlab, x-missing: v}, removed: [x-nope]}}
  - name: passes
    request: {path: /nowhere}
    expect: {reason: no_endpoint, status: 404}
  - name: expects a dry-run failure to read allow
    request: {path: /dry, body: z}
    expect: {decision: allow}
`,
	})
	s, out := run(t, Options{}, d)
	if s.OK() || s.Passed != 1 || s.Failed != 3 {
		t.Fatalf("summary %+v:\n%s", s, out)
	}
	for _, want := range []string{
		"--- FAIL: " + d + "/gh_test.yaml:5: expects allow but is forged",
		`    decision: got "deny", want "allow"`,
		"    status: got 401, want 200",
		`    reason: got "signature_invalid", want "ok"`,
		"--- FAIL: " + d + "/gh_test.yaml:9: expects a header that is not set",
		`    headers.set.x-src: got "github", want "gitlab"`,
		`    headers.set.x-missing: not set, want "v"`,
		"    headers.removed: x-nope is not removed (removed: x-hub-signature-256)",
		"--- FAIL: " + d + "/gh_test.yaml:16: expects a dry-run failure to read allow",
		`    decision: got "deny", want "allow"` + "\n    (the endpoint is in DRY_RUN mode: the request goes upstream, but the decision is the one enforcing would take)",
		"FAIL\t" + d,
		"1 passed, 3 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PASS") {
		t.Errorf("passing cases are reported without -v:\n%s", out)
	}
	if strings.Contains(out, "current") || strings.Contains(out, "other\n") {
		t.Errorf("output shows a secret:\n%s", out)
	}
}

func TestBrokenFilesFail(t *testing.T) {
	d := dir(t, map[string]string{
		"gh.yaml": githubPolicy,
		"a_test.yaml": `
tests:
  - name: typo
    request: {path: /gh}
    expect: {decison: allow}
`,
		"b_test.yaml": `
tests:
  - name: x
    request: {path: /gh}
    expect: {decision: maybe, reason: nope}
  - name: x
    request: {}
    expect: {}
`,
		"c_test.yaml": `
secrets: {env: {A: a, B: b}}
tests:
  - name: which secret
    request: {path: /gh}
    sign: {scheme: github}
    expect: {decision: allow}
  - name: no such scheme
    request: {path: /gh}
    sign: {scheme: carrier-pigeon, secret: A}
    expect: {decision: allow}
`,
	})
	s, out := run(t, Options{}, d)
	if s.OK() || s.Failed != 4 {
		t.Fatalf("summary %+v:\n%s", s, out)
	}
	for _, want := range []string{
		`a_test.yaml:5: tests[0].expect.decison: unknown field "decison"; did you mean decision? (valid: decision, status, reason, `,
		`b_test.yaml:5: tests[0].expect.decision: "maybe" is not allow, deny or handshake`,
		`b_test.yaml:5: tests[0].expect.reason: unknown reason "nope"`,
		`b_test.yaml:6: tests[1].name: "x" is used twice`,
		"b_test.yaml:7: tests[1].request: set path",
		"b_test.yaml:8: tests[1].expect: set at least one",
		"sign.secret: name the secret to sign with (the file has 2)",
		`sign: verify: cannot sign scheme "carrier-pigeon"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyThatDoesNotLoad(t *testing.T) {
	d := dir(t, map[string]string{
		"gh.yaml":      githubPolicy + "    replay: {ttl: soon}\n",
		"gh_test.yaml": "tests:\n  - {name: a, request: {path: /gh}, expect: {decision: deny}}\n  - {name: b, request: {path: /gh}, expect: {decision: deny}}\n",
	})
	s, out := run(t, Options{}, d)
	if s.Failed != 2 || !strings.Contains(out, "the policy does not load (2 cases not run)") || !strings.Contains(out, "gh.yaml:10: endpoint \"dry\": replay.ttl") {
		t.Errorf("summary %+v:\n%s", s, out)
	}
}

func TestUnsetSecretsArePlaceholders(t *testing.T) {
	d := dir(t, map[string]string{
		"gh.yaml": githubPolicy,
		"gh_test.yaml": `
tests:
  - name: nobody can sign with a secret the file does not set
    request: {path: /gh, headers: {x-hub-signature-256: "sha256=00"}}
    expect: {decision: deny, reason: signature_invalid}
`,
	})
	if s, out := run(t, Options{}, d); !s.OK() {
		t.Errorf("%+v:\n%s", s, out)
	}
}

func TestRunFilterAndRecursion(t *testing.T) {
	root := dir(t, map[string]string{
		"a/gh.yaml":         githubPolicy,
		"a/gh_test.yaml":    "tests:\n  - {name: one, request: {path: /x}, expect: {reason: no_endpoint}}\n  - {name: two, request: {path: /x}, expect: {reason: ok}}\n",
		"a/b/gh.yaml":       githubPolicy,
		"a/b/more_test.yml": "tests:\n  - {name: three, request: {path: /x}, expect: {reason: no_endpoint}}\n",
		"c/gh.yaml":         githubPolicy,
	})
	s, out := run(t, Options{Match: regexp.MustCompile("one|three")}, root+"/...")
	if !s.OK() || s.Passed != 2 {
		t.Errorf("filtered recursive run %+v:\n%s", s, out)
	}
	s, out = run(t, Options{}, filepath.Join(root, "c"))
	if !s.OK() || !strings.Contains(out, "[no test files]") {
		t.Errorf("a directory without tests %+v:\n%s", s, out)
	}
	s, out = run(t, Options{}, filepath.Join(root, "missing"))
	if s.OK() {
		t.Errorf("a missing directory passed:\n%s", out)
	}
}

func TestExamplePolicies(t *testing.T) {
	s, out := run(t, Options{}, "../../policies")
	if !s.OK() || s.Passed < 10 {
		t.Errorf("the example policies' tests: %+v\n%s", s, out)
	}
}

// TestSecretsBackEachOther checks that a file testing one endpoint need not
// set the keys of another endpoint of the directory, even a public key that
// no placeholder could stand in for.
func TestSecretsBackEachOther(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := dir(t, map[string]string{
		"p.yaml": "endpoints:\n" +
			"- {name: tok, match: {path: /tok}, verify: {token: {header: x-token, secrets: [{env: TOKEN}]}}}\n" +
			"- {name: discord, match: {path: /discord}, verify: {discord: {public_keys: [{env: DISCORD_PUBLIC_KEY}]}}}\n",
		"discord_test.yaml": "secrets: {env: {DISCORD_PUBLIC_KEY: " + hex.EncodeToString(pub) + "}}\n" +
			"tests:\n  - {name: unsigned, request: {path: /discord, body: '{}'}, expect: {decision: deny, reason: signature_missing}}\n",
		"tok_test.yaml": "secrets: {env: {TOKEN: t}}\n" +
			"tests:\n  - {name: token, request: {path: /tok, headers: {x-token: t}}, expect: {decision: allow}}\n",
	})
	if s, out := run(t, Options{}, d); !s.OK() || s.Passed != 2 {
		t.Errorf("%+v\n%s", s, out)
	}
}
