package policy

import (
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
