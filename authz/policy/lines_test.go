package policy

import (
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	const doc = `# comment
endpoints:
  - name: a
    match:
      pathPrefix: /a
      methods: [POST, PUT]
    verify:
      github:
        secrets:
          - env: A
          - file: /b
    on_allow:
      set_headers:
        x.dotted: v
        x-plain: w
  - &second
    name: b
    verify: {token: {header: x}}
extra: 1
`
	x := newLines([]byte(doc))
	for _, tt := range []struct {
		i     int
		field string
		want  int
	}{
		{0, "", 3},
		{0, "name", 3},
		{0, "match.path_prefix", 5}, // proto name for a JSON-name key
		{0, "match.methods[1]", 6},
		{0, "verify.github.secrets[1].file", 11},
		{0, "verify.github.secrets[1]", 11},
		{0, "verify.github.secrets[7].env", 9}, // no such item: the list
		{0, "on_allow.set_headers.x.dotted", 14},
		{0, "on_allow.set_headers.x-plain", 15},
		{0, "replay.ttl", 3}, // not written: the endpoint
		{1, "", 16},          // where the item starts, at its anchor
		{1, "verify.token.header", 18},
		{2, "name", 0},
	} {
		if got := x.endpoint(tt.i, tt.field); got != tt.want {
			t.Errorf("endpoint(%d, %q) = %d, want %d", tt.i, tt.field, got, tt.want)
		}
	}
	if got := x.file("extra"); got != 19 {
		t.Errorf("file(extra) = %d", got)
	}
	if got := newLines([]byte("endpoints: [a\n")).endpoint(0, "name"); got != 0 {
		t.Errorf("a file that does not parse has no lines: %d", got)
	}
	if got := newLines([]byte("- a\n")).file("endpoints"); got != 0 {
		t.Errorf("a list at the top: %d", got)
	}
}

// TestLoadLinesOfLateDiagnostics checks the lines of diagnostics reported
// once every file is read (stages, defaults), which name the endpoint by
// label rather than by position.
func TestLoadLinesOfLateDiagnostics(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"a.yaml": "endpoints:\n  - name: a\n    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n" +
			"  - name: b\n    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n    rate_limit:\n      rate: fast\n",
	})
	_, err := Load(dir, Options{Secrets: testSecrets})
	if err == nil || !strings.Contains(err.Error(), `a.yaml:7: endpoint "b": rate_limit.rate`) {
		t.Errorf("want the line of b's rate_limit.rate:\n%v", err)
	}
}
