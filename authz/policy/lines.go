package policy

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lines finds where in a policy file an endpoint or a field is written, so a
// diagnostic can name the line. The loader decodes through JSON, which keeps
// no positions; this parses the same bytes a second time into YAML nodes,
// which do. It is best effort: a path it cannot follow to the end yields the
// line of the deepest node it reached, and a file it cannot parse yields 0.
type lines struct {
	root      *yaml.Node // the top-level mapping, or nil
	endpoints []*yaml.Node
}

// newLines indexes data. It never fails: a file that is not YAML has no
// lines to give, and the loader reports its syntax error separately.
func newLines(data []byte) *lines {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return &lines{}
	}
	x := &lines{root: deref(doc.Content[0])}
	if x.root.Kind != yaml.MappingNode {
		x.root = nil
		return x
	}
	if _, eps := lookupKey(x.root, "endpoints"); eps != nil && eps.Kind == yaml.SequenceNode {
		for _, e := range eps.Content {
			x.endpoints = append(x.endpoints, deref(e))
		}
	}
	return x
}

// file returns the line of a top-level field, or 0.
func (x *lines) file(field string) int {
	if x.root == nil {
		return 0
	}
	return pathLine(x.root, field)
}

// endpoint returns the line of field in the i-th endpoint, or of the
// endpoint itself when field is empty or not found at all; 0 when the file
// has no i-th endpoint.
func (x *lines) endpoint(i int, field string) int {
	if i < 0 || i >= len(x.endpoints) {
		return 0
	}
	return pathLine(x.endpoints[i], field)
}

// endpointIndex returns the index of the endpoint a diagnostic labels: the
// first one with that name, or i for "endpoints[i]"; -1 when none.
func (x *lines) endpointIndex(label string) int {
	for i, e := range x.endpoints {
		if _, v := lookupKey(e, "name"); v != nil && v.Kind == yaml.ScalarNode && v.Value == label {
			return i
		}
	}
	if rest, ok := strings.CutPrefix(label, "endpoints["); ok {
		if i, err := strconv.Atoi(strings.TrimSuffix(rest, "]")); err == nil {
			return i
		}
	}
	return -1
}

// pathLine follows a diagnostic's field path, such as
// "verify.github.secrets[0].env" or "on_allow.set_headers.x-a.b", from n,
// and returns the line of the last key or item it reached.
func pathLine(n *yaml.Node, path string) int {
	line := n.Line
	toks := tokens(path)
	for len(toks) > 0 {
		switch n.Kind {
		case yaml.MappingNode:
			// A map key may itself hold dots (a header name), so try the
			// longest run of name tokens first.
			k, v, used := matchKey(n, toks)
			if v == nil {
				return line
			}
			line, n, toks = k.Line, v, toks[used:]
		case yaml.SequenceNode:
			i, err := strconv.Atoi(toks[0].index)
			if toks[0].index == "" || err != nil || i >= len(n.Content) {
				return line
			}
			n = deref(n.Content[i])
			line, toks = n.Line, toks[1:]
		default:
			return line
		}
	}
	return line
}

// token is one step of a field path: a name, or an index when index is set.
type token struct{ name, index string }

// tokens splits "a.b[0].c" into a, b, [0], c.
func tokens(path string) []token {
	var out []token
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			continue
		}
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, token{name: name})
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			if !ok {
				break
			}
			out = append(out, token{index: idx})
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return out
}

// matchKey finds the key of mapping n that spells the longest run of name
// tokens at the start of toks joined with dots.
func matchKey(n *yaml.Node, toks []token) (key, value *yaml.Node, used int) {
	run := 0
	for run < len(toks) && toks[run].index == "" {
		run++
	}
	for used = run; used > 0; used-- {
		names := make([]string, used)
		for i := range names {
			names[i] = toks[i].name
		}
		if k, v := lookupKey(n, strings.Join(names, ".")); v != nil {
			return k, v, used
		}
	}
	return nil, nil, 0
}

// lookupKey finds name among the keys of mapping n, written either as the
// proto name or the JSON name (path_prefix, pathPrefix), as protojson
// accepts both.
func lookupKey(n *yaml.Node, name string) (key, value *yaml.Node) {
	for _, same := range []func(string) bool{
		func(k string) bool { return k == name },
		func(k string) bool { return fold(k) == fold(name) },
	} {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && same(k.Value) {
				return k, deref(n.Content[i+1])
			}
		}
	}
	return nil, nil
}

// fold makes a proto name and its JSON name compare equal.
func fold(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", ""))
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

// yamlError is the line and message of the diagnostic of a file that is not
// YAML, with a hint at the usual cause of the common mistakes.
//
// The YAML library (go.yaml.in/yaml/v2, under sigs.k8s.io/yaml) reports a
// syntax error as "yaml: line N: problem", where N is the 1-based line of
// the problem when its scanner found it but the 0-based one when its parser
// did, and with no line at all for a problem on the first line. Reported as
// is, a key indented one space too few on line 5 would be blamed on line 4.
// TestYAMLErrorLines pins this down, so a library that changes it fails
// there.
func yamlError(err error, data []byte) (line int, msg string) {
	// One line per diagnostic: the library's errors span several.
	text := strings.Join(strings.Fields(err.Error()), " ")
	m := yamlSyntax.FindStringSubmatch(text)
	if m == nil {
		return firstLine(text), "invalid YAML: " + text
	}
	problem, known := yamlProblems[m[2]]
	switch {
	case m[1] != "":
		line, _ = strconv.Atoi(m[1])
		if problem.parser {
			line++
		}
	case known:
		line = 1
	default:
		// Not a syntax error, such as a key given twice ("yaml:
		// unmarshal errors: line 16: key "mode" already set in map"),
		// whose lines are right.
		return firstLine(text), "invalid YAML: " + text
	}
	// A problem found at the end of the file, such as a bracket never
	// closed, is on its last line, not the one after.
	line = min(line, lastLine(data))
	msg = "invalid YAML: " + m[2]
	if problem.hint != "" {
		msg += "; " + problem.hint
	}
	return line, msg
}

// yamlSyntax splits a syntax error of the YAML library.
var yamlSyntax = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlProblems are the syntax errors the YAML library's parser reports, all
// of them, so that their 0-based lines can be told apart, and the scanner's
// errors a policy author is likely to meet, each with what usually causes
// it.
var yamlProblems = map[string]struct {
	parser bool
	hint   string
}{
	"did not find expected key":                                    {true, "check the indentation of this line: the keys of one mapping line up in one column"},
	"did not find expected '-' indicator":                          {true, "check the indentation of this line: the items of one list start with - in one column, and an item's keys line up with its first key"},
	"did not find expected ',' or ']'":                             {true, "a [ before this point is not closed"},
	"did not find expected ',' or '}'":                             {true, "a { before this point is not closed"},
	"did not find expected node content":                           {true, ""},
	"did not find expected <document start>":                       {true, ""},
	"did not find expected <stream-start>":                         {true, ""},
	"found duplicate %YAML directive":                              {true, ""},
	"found duplicate %TAG directive":                               {true, ""},
	"found incompatible YAML document":                             {true, ""},
	"found undefined tag handle":                                   {true, ""},
	"mapping values are not allowed in this context":               {false, "check the indentation of this line: indented deeper than the key before it, it reads as part of that key's value; and quote a value that holds \": \""},
	"found a tab character that violates indentation":              {false, "indent with spaces: YAML does not allow tabs"},
	"found a tab character where an indentation space is expected": {false, "indent with spaces: YAML does not allow tabs"},
	"found character that cannot start any token":                  {false, "quote a value that starts with @ or `, and indent with spaces, not tabs"},
	"found unexpected end of stream":                               {false, "a quoted value is not closed"},
}

// yamlLine is a line number in a YAML error.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// firstLine finds the first "line N" in a YAML error, or 0.
func firstLine(text string) int {
	m := yamlLine.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// lastLine is the number of the last line of data that is not blank; 1 for
// a file without one.
func lastLine(data []byte) int {
	data = bytes.TrimRight(data, " \t\r\n")
	return bytes.Count(data, []byte("\n")) + 1
}
