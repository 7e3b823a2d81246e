package policy

import (
	"errors"
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

// TestYAMLErrorLines checks that a syntax error names the line the mistake
// is on, whether the YAML library's scanner or its parser found it, with a
// hint for the common mistakes.
func TestYAMLErrorLines(t *testing.T) {
	const head = "endpoints:\n  - name: github\n    match:\n      path_prefix: /webhooks/github\n"
	for _, tt := range []struct {
		name, doc string
		line      int
		want      string
	}{
		{"key indented one space too few", head + "     methods: [POST]\n    verify: {}\n",
			5, "invalid YAML: did not find expected key; check the indentation of this line: the keys of one mapping line up in one column"},
		{"key indented too deep", head + "        methods: [POST]\n    verify: {}\n",
			5, "invalid YAML: mapping values are not allowed in this context; check the indentation of this line: indented deeper than the key before it"},
		{"key between list item and its keys", head + "   methods: [POST]\n",
			5, "invalid YAML: did not find expected '-' indicator; check the indentation of this line: the items of one list start with -"},
		{"list item indented too deep", "endpoints:\n  - name: a\n   - name: b\n",
			3, "did not find expected '-' indicator"},
		{"tab", "endpoints:\n  - name: a\n\tverify: {}\n",
			3, "found a tab character that violates indentation; indent with spaces"},
		{"flow mapping not closed", "endpoints:\n  - name: a\n    verify: {github: {secrets: [{env: A}]}\n  - name: b\n",
			4, "did not find expected ',' or '}'; a { before this point is not closed"},
		{"flow list not closed at the end", "endpoints: [a, b\n\n\n",
			1, "did not find expected ',' or ']'; a [ before this point is not closed"},
		{"quote not closed", "endpoints:\n  - name: 'a\n",
			2, "found unexpected end of stream; a quoted value is not closed"},
		{"first line", "endpoints: a: b\n",
			1, "mapping values are not allowed in this context"},
		{"first line, scanner", "endpoints: @a\n",
			1, "found character that cannot start any token; quote a value that starts with @"},
		{"top-level key indented", "endpoints: []\n defaults: {}\n",
			2, "did not find expected key; check the indentation of this line"},
		{"key given twice", "endpoints: []\ndefaults: {}\ndefaults: {}\n",
			3, `invalid YAML: yaml: unmarshal errors: line 3: key "defaults" already set in map`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeDir(t, map[string]string{"a.yaml": tt.doc}), Options{Secrets: testSecrets})
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			if d := errs[0]; d.Line != tt.line || !strings.Contains(d.Message, tt.want) || strings.Contains(d.Message, "yaml: line") {
				t.Errorf("line %d, message %q\nwant line %d, message containing %q and no line of its own", d.Line, d.Message, tt.line, tt.want)
			}
		})
	}
}
