package policy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeSecrets is a SecretSource over maps.
type fakeSecrets struct {
	env   map[string]string
	files map[string]string
}

func (f fakeSecrets) LookupEnv(name string) (string, bool) { v, ok := f.env[name]; return v, ok }
func (f fakeSecrets) ReadFile(path string) ([]byte, error) {
	if v, ok := f.files[path]; ok {
		return []byte(v), nil
	}
	return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
}

const secretValue = "SUPERSECRET-value-1234"

var testSecrets = fakeSecrets{
	env: map[string]string{"GITHUB_SECRET": secretValue, "EMPTY": ""},
	files: map[string]string{
		"/run/secrets/github-old": secretValue + "-old\n",
		"/run/secrets/empty":      "\n",
	},
}

// writeDir writes files into a new policy directory.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const validGitHub = `
endpoints:
  - name: github-ci
    match:
      hosts: [hooks.example.com, "*.hooks.example.com"]
      path_prefix: /webhooks/github
    verify:
      github:
        secrets:
          - env: GITHUB_SECRET
          - file: /run/secrets/github-old
    on_allow:
      set_headers: {x-webhook-source: github}
      remove_headers: [X-Hub-Signature-256]
`

func TestLoadValid(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"github.yaml": validGitHub,
		"gitlab.yml": `
endpoints:
  - name: gitlab
    match: {path: /webhooks/gitlab, methods: [post, PUT]}
    verify:
      token: {header: X-Gitlab-Token, secrets: [{env: GITHUB_SECRET}]}
    replay: {ttl: 1h}
    mode: DRY_RUN
`,
		"github_test.yaml": "not: [a policy",
		".hidden.yaml":     "not: [a policy",
		"notes.txt":        "ignored",
	})
	res, err := Load(dir, Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 2 || !strings.HasPrefix(res.Revision, "sha256:") {
		t.Fatalf("files %v revision %q", res.Files, res.Revision)
	}
	gh := res.Policy.Endpoint("github-ci")
	// GitHub signs no timestamp: remembered for the longest TTL, in the
	// whole store, as no other endpoint has replay protection.
	if gh == nil || gh.ReplayTTL != 24*time.Hour || gh.ReplayCapacity != DefaultNonceCapacity || gh.Verifier.Scheme() != "github" || gh.DryRun {
		t.Fatalf("github-ci: %+v", gh)
	}
	if got := gh.RemoveHeaders; len(got) != 1 || got[0] != "x-hub-signature-256" {
		t.Errorf("remove headers %v (want lower-cased)", got)
	}
	gl := res.Policy.Endpoint("gitlab")
	if gl == nil || gl.ReplayTTL != 0 || !gl.DryRun || strings.Join(gl.Match.Methods, ",") != "POST,PUT" {
		t.Fatalf("gitlab: %+v", gl)
	}
	var warnings []string
	for _, w := range res.Warnings {
		warnings = append(warnings, w.Error())
	}
	all := strings.Join(warnings, "\n")
	for _, want := range []string{"DRY_RUN", "no replay protection"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}

func TestLoadErrorsNameFileEndpointField(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    []string // each must appear in one error line
		wantLen int
	}{
		{"unknown top-level field", map[string]string{"a.yaml": "endpoint: []\n"},
			[]string{`a.yaml:1: endpoint: unknown field "endpoint"; did you mean endpoints? (valid: endpoints, defaults)`}, 1},
		{"unknown nested field", map[string]string{"a.yaml": strings.Replace(validGitHub, "- env: GITHUB_SECRET", "- evn: GITHUB_SECRET", 1)},
			// The rest of the endpoint is still checked: the reference the
			// typo left empty is reported too.
			[]string{`a.yaml:10: endpoint "github-ci": verify.github.secrets[0].evn: unknown field "evn"; did you mean env? (valid: env, file)`,
				`verify.github.secrets[0]: set env or file`}, 2},
		{"typo and other errors in one endpoint", map[string]string{"a.yaml": strings.Replace(validGitHub, "    on_allow:", "    replay: {ttl: soon}\n    on_alow:", 1)},
			[]string{`endpoint "github-ci": on_alow: unknown field`, `endpoint "github-ci": replay.ttl: invalid duration "soon"`}, 2},
		{"unknown endpoint field", map[string]string{"a.yaml": strings.Replace(validGitHub, "    on_allow:", "    on_alow:", 1)},
			[]string{`endpoint "github-ci": on_alow: unknown field "on_alow"; did you mean on_allow? (valid: name, match, verify, `}, 1},
		{"missing env", map[string]string{"a.yaml": strings.Replace(validGitHub, "GITHUB_SECRET", "NOT_SET", 1)},
			[]string{`endpoint "github-ci": verify.github.secrets[0].env: environment variable NOT_SET is not set`}, 1},
		{"empty env", map[string]string{"a.yaml": strings.Replace(validGitHub, "GITHUB_SECRET", "EMPTY", 1)},
			[]string{`verify.github.secrets[0]: secret is empty`}, 1},
		{"missing file", map[string]string{"a.yaml": strings.Replace(validGitHub, "/run/secrets/github-old", "/run/secrets/nope", 1)},
			[]string{`verify.github.secrets[1].file: cannot read secret file /run/secrets/nope`}, 1},
		{"empty file", map[string]string{"a.yaml": strings.Replace(validGitHub, "/run/secrets/github-old", "/run/secrets/empty", 1)},
			[]string{`verify.github.secrets[1]: secret is empty`}, 1},
		{"no secrets", map[string]string{"a.yaml": "endpoints:\n- name: a\n  verify: {github: {secrets: []}}\n"},
			[]string{`endpoint "a": verify.github.secrets: at least one secret is required`}, 1},
		{"duplicate across files", map[string]string{"a.yaml": validGitHub, "b.yaml": validGitHub},
			[]string{`b.yaml:3: endpoint "github-ci": name: duplicate endpoint name, also defined in `}, 1},
		{"bad duration", map[string]string{"a.yaml": validGitHub + "    replay: {ttl: 10 minutes}\n"},
			[]string{`endpoint "github-ci": replay.ttl: invalid duration "10 minutes"`}, 1},
		{"ttl too long", map[string]string{"a.yaml": validGitHub + "    replay: {ttl: 48h}\n"},
			[]string{`replay.ttl: must be more than 0 and at most 24h0m0s`}, 1},
		{"ttl and disabled", map[string]string{"a.yaml": validGitHub + "    replay: {ttl: 1m, disabled: true}\n"},
			[]string{`replay.ttl: set with replay.disabled`}, 1},
		{"no name, no verify", map[string]string{"a.yaml": "endpoints:\n- match: {path: /x}\n"},
			[]string{`endpoint "endpoints[0]": name: required`, `endpoint "endpoints[0]": verify: required`}, 2},
		{"bad name", map[string]string{"a.yaml": strings.Replace(validGitHub, "github-ci", "GitHub CI", 1)},
			[]string{`endpoint "GitHub CI": name: must match`}, 1},
		{"two schemes", map[string]string{"a.yaml": "endpoints:\n- name: a\n  verify:\n    github: {secrets: [{env: GITHUB_SECRET}]}\n    token: {header: x, secrets: [{env: GITHUB_SECRET}]}\n"},
			[]string{`endpoint "a": verify.token: set only one of github and token`}, 1},
		{"wrong type", map[string]string{"a.yaml": "endpoints:\n- name: a\n  match: {methods: POST}\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"},
			[]string{`endpoint "a": match.methods: must be a list`}, 1},
		{"wrong scalar types", map[string]string{"a.yaml": "endpoints:\n- name: 5\n  mode: LOUD\n  replay: {disabled: 'yes'}\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"},
			[]string{`endpoint "endpoints[0]": name: must be a string`, `mode: must be one of ENFORCE, DRY_RUN`, `replay.disabled: must be true or false`}, 3},
		{"endpoint not a mapping", map[string]string{"a.yaml": "endpoints: [github]\n"},
			[]string{`endpoint "endpoints[0]": must be a mapping`}, 1},
		{"path and prefix", map[string]string{"a.yaml": "endpoints:\n- name: a\n  match: {path: /a, path_prefix: /b}\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"},
			[]string{`endpoint "a": match: set path or path_prefix, not both`}, 1},
		{"relative path", map[string]string{"a.yaml": "endpoints:\n- name: a\n  match: {path_prefix: webhooks}\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"},
			[]string{`match.path_prefix: must start with /`}, 1},
		{"bad host and method", map[string]string{"a.yaml": "endpoints:\n- name: a\n  match: {hosts: [\"exa mple.com\", \"x.com:443\"], methods: [FETCH]}\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"},
			[]string{`match.hosts[0]: must be a host name`, `match.hosts[1]: must be a host name`, `match.methods[0]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`}, 3},
		{"reserved and conflicting headers", map[string]string{"a.yaml": "endpoints:\n- name: a\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n  on_allow:\n    set_headers: {x-hookguard-verified: 'yes', x-a: b}\n    remove_headers: [x-a, host]\n"},
			[]string{`on_allow.set_headers.x-hookguard-verified: x-hookguard-* headers are reserved`, `on_allow.remove_headers[0]: also in set_headers`, `on_allow.remove_headers[1]: Envoy does not let`}, 3},
		{"token without header", map[string]string{"a.yaml": "endpoints:\n- name: a\n  verify: {token: {secrets: [{env: GITHUB_SECRET}]}}\n"},
			[]string{`verify.token.header: required`}, 1},
		{"invalid yaml", map[string]string{"a.yaml": "endpoints:\n  - name: a\n    match: {path: /a\n"},
			[]string{`a.yaml:3: invalid YAML`}, 1},
		{"duplicate key", map[string]string{"a.yaml": validGitHub + "    mode: DRY_RUN\n    mode: ENFORCE\n"},
			[]string{`a.yaml:16: invalid YAML: yaml: unmarshal errors: line 16: key "mode" already set in map`}, 1},
		{"not a mapping", map[string]string{"a.yaml": "- a\n- b\n"},
			[]string{`a.yaml: a policy file is a mapping`}, 1},
		{"endpoints not a list", map[string]string{"a.yaml": "endpoints: {name: a}\n"},
			[]string{`a.yaml:1: endpoints: must be a list`}, 1},
		{"every error in one run", map[string]string{
			"a.yaml": strings.Replace(validGitHub, "GITHUB_SECRET", "NOT_SET", 1),
			"b.yaml": "endpoints:\n- name: b\n  verify: {github: {secrets: [{env: NOT_SET_EITHER}]}}\n  replay: {ttl: soon}\n"},
			[]string{`a.yaml:10: endpoint "github-ci": verify.github.secrets[0].env`, `b.yaml:3: endpoint "b": verify.github.secrets[0].env`, `b.yaml:4: endpoint "b": replay.ttl`}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Load(writeDir(t, tt.files), Options{Secrets: testSecrets})
			if err == nil {
				t.Fatalf("loaded: %+v", res)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors", err)
			}
			if len(errs) != tt.wantLen {
				t.Errorf("%d errors, want %d:\n%v", len(errs), tt.wantLen, err)
			}
			msg := err.Error()
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("errors lack %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, secretValue) {
				t.Errorf("an error quotes a secret:\n%s", msg)
			}
			for _, d := range errs {
				if d.Code == "" {
					t.Errorf("no code: %v", d)
				}
			}
		})
	}
}

func TestLoadRelativeSecretFile(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.yaml": "endpoints:\n- name: a\n  verify: {github: {secrets: [{file: secrets/gh}]}}\n"})
	os.Mkdir(filepath.Join(dir, "secrets"), 0o700)
	os.WriteFile(filepath.Join(dir, "secrets", "gh"), []byte("from-file\r\n"), 0o600)
	if _, err := Load(dir, Options{}); err != nil {
		t.Fatalf("relative secret file: %v", err)
	}
}

func TestLoadEmptyAndMissingDirs(t *testing.T) {
	if _, err := Load(t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "no *.yaml") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Error("missing dir loaded")
	}
}

func TestRevisionFollowsContent(t *testing.T) {
	a, err := Load(writeDir(t, map[string]string{"a.yaml": validGitHub}), Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Load(writeDir(t, map[string]string{"a.yaml": validGitHub}), Options{Secrets: testSecrets})
	c, _ := Load(writeDir(t, map[string]string{"a.yaml": validGitHub + "\n# changed\n"}), Options{Secrets: testSecrets})
	if a.Revision != b.Revision || a.Revision == c.Revision {
		t.Errorf("revisions %s %s %s", a.Revision, b.Revision, c.Revision)
	}
}

func TestExamplePoliciesLoad(t *testing.T) {
	res, err := Load("../../policies", Options{Secrets: Placeholders{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"github", "gitlab"} {
		if res.Policy.Endpoint(name) == nil {
			t.Errorf("example endpoint %q missing", name)
		}
	}
	if gh := res.Policy.Endpoint("github"); gh.ReplayTTL != 24*time.Hour {
		t.Errorf("github replay ttl %v", gh.ReplayTTL)
	}
}

func TestFileSecret(t *testing.T) {
	for in, want := range map[string]string{"a\n": "a", "a\r\n": "a", "a\n\n": "a\n", "a": "a", " a ": " a "} {
		if got := string(FileSecret([]byte(in))); got != want {
			t.Errorf("FileSecret(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProtojsonMessage(t *testing.T) {
	got := protojsonMessage(errors.New(`proto: syntax error (line 1:21): unexpected token "POST"`))
	if got != `syntax error: unexpected token "POST"` {
		t.Errorf("got %q", got)
	}
}
