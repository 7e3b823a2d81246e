package policy

import (
	"strings"
	"testing"
)

// overlapWarnings loads files and returns the warnings on field "match".
func overlapWarnings(t *testing.T, files map[string]string) []*Diagnostic {
	t.Helper()
	res, err := Load(writeDir(t, files), Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	var out []*Diagnostic
	for _, w := range res.Warnings {
		if w.Field == "match" {
			out = append(out, w)
		}
	}
	return out
}

const strictGitHub = `
  - name: github
    match: {hosts: [hooks.example.com], path: /webhooks/github}
    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}
    source: {allow_cidrs: [192.0.2.0/24]}
`

// TestOverlapWarnsAboutWeakerFallback: a broader endpoint that a request for
// a stricter one can fall to is reported with both names, both files and
// every way it is weaker; the stricter endpoint gets no warning.
func TestOverlapWarnsAboutWeakerFallback(t *testing.T) {
	got := overlapWarnings(t, map[string]string{
		"a.yaml": "endpoints:" + strictGitHub,
		"b.yaml": `
endpoints:
  - name: catch-all
    match: {path_prefix: /webhooks}
    mode: DRY_RUN
    verify: {token: {header: x-token, secrets: [{env: GITHUB_SECRET}]}}
`,
	})
	if len(got) != 1 {
		t.Fatalf("got %d overlap warnings, want 1: %v", len(got), got)
	}
	w := got[0]
	if w.Endpoint != "catch-all" || !strings.HasSuffix(w.File, "b.yaml") || w.Line != 4 {
		t.Errorf("warning placed at %s:%d endpoint %q, want b.yaml:4 catch-all", w.File, w.Line, w.Endpoint)
	}
	for _, part := range []string{`stricter endpoint "github"`, "a.yaml", "DRY_RUN",
		`scheme token (a shared secret sent with every request) where "github" checks a github signature`,
		"no replay protection", "no source restriction"} {
		if !strings.Contains(w.Message, part) {
			t.Errorf("warning %q lacks %q", w.Message, part)
		}
	}
}

// TestOverlapCases: which pairs overlap (paths covered, hosts shared) and
// which weaknesses count.
func TestOverlapCases(t *testing.T) {
	for _, tt := range []struct {
		name   string
		broad  string // the second endpoint, named "broad"
		strict string // the first, named "strict"; default strictGitHub's match
		want   string // part of the warning; "" for none
	}{
		{name: "any host DRY_RUN on the same prefix",
			strict: `match: {hosts: [hooks.example.com], path_prefix: /hook}`,
			broad:  `match: {path_prefix: /hook}` + "\n    mode: DRY_RUN\n    source: {allow_cidrs: [192.0.2.0/24]}",
			want:   "mode DRY_RUN"},
		{name: "wildcard host covers the exact one",
			strict: `match: {hosts: [hooks.example.com], path: /hook}`,
			broad:  `match: {hosts: ["*.example.com"], path: /hook}`,
			want:   "no source restriction"},
		{name: "replay off",
			strict: `match: {path: /webhooks/github}`,
			broad:  `match: {path_prefix: /webhooks/}` + "\n    replay: {disabled: true}",
			want:   "no replay protection"},
		{name: "no path at all but a host",
			strict: `match: {hosts: [hooks.example.com], path: /x}`,
			broad:  `match: {hosts: [hooks.example.com]}` + "\n    mode: DRY_RUN",
			want:   "DRY_RUN"},
		{name: "wildcards that share names",
			strict: `match: {hosts: ["*.a.example.com"], path: /x}`,
			broad:  `match: {hosts: ["*.example.com"], path: /x}` + "\n    mode: DRY_RUN",
			want:   "DRY_RUN"},

		{name: "other host", broad: `match: {hosts: [other.example.com], path_prefix: /webhooks}` + "\n    mode: DRY_RUN"},
		{name: "wildcard does not cover its apex", strict: `match: {hosts: [example.com], path: /x}`,
			broad: `match: {hosts: ["*.example.com"], path: /x}` + "\n    mode: DRY_RUN"},
		{name: "prefix on another segment", broad: `match: {path_prefix: /webhooks/git}` + "\n    mode: DRY_RUN"},
		{name: "narrower paths", strict: `match: {path_prefix: /webhooks}`,
			broad: `match: {path: /webhooks/github}` + "\n    mode: DRY_RUN"},
		{name: "as strict", broad: `match: {path_prefix: /webhooks}` + "\n    source: {allow_cidrs: [192.0.2.0/24]}"},
		{name: "reachable by name only", broad: "mode: DRY_RUN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			strict := strictGitHub
			if tt.strict != "" {
				strict = "\n  - name: strict\n    " + tt.strict + "\n    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n    source: {allow_cidrs: [192.0.2.0/24]}\n"
			}
			doc := "endpoints:" + strict + "  - name: broad\n    " + tt.broad + "\n    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"
			got := overlapWarnings(t, map[string]string{"p.yaml": doc})
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("unexpected warning: %v", got[0])
			case tt.want != "" && len(got) != 1:
				t.Errorf("got %d warnings, want 1: %v", len(got), got)
			case tt.want != "" && (got[0].Endpoint != "broad" || !strings.Contains(got[0].Message, tt.want)):
				t.Errorf("warning %v, want one on broad containing %q", got[0], tt.want)
			}
		})
	}
}
