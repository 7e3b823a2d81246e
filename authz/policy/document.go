package policy

import (
	"bytes"
	"encoding/json"
	"slices"

	yaml3 "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"
)

// A Document is a YAML file decoded by [DecodeYAML]. It remembers where each
// field is written, so that checks made after decoding report lines too.
type Document struct {
	file  string
	lines *lines
}

// DecodeYAML decodes data, the content of file, into m the way Load decodes
// a policy file: YAML converted to JSON (a key given twice is an error),
// every key and the shape of every value checked against m's schema, then
// protojson. It returns every problem found, in the order they are written,
// each with the file, the line and the field's path from the top of the
// document (such as "tests[2].expect.decison"); m is filled only when there
// is none. An empty document leaves m empty.
//
// Where the schema wants a string, a plain scalar is the string as written:
// `body: yes` is "yes" and `version: 1.10` is "1.10", not the boolean and
// the number the YAML-to-JSON conversion makes of them.
//
// Other files hookguard reads, such as policy tests, use it so that their
// diagnostics read like those of policy files.
func DecodeYAML(file string, data []byte, m proto.Message) (*Document, Errors) {
	doc := &Document{file: file, lines: newLines(data)}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return doc, Errors{yamlSyntaxError(file, data, err)}
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return doc, nil
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // numbers as written, for protojson to check
	if err := dec.Decode(&tree); err != nil {
		return doc, Errors{{File: file, Message: err.Error()}}
	}
	md := m.ProtoReflect().Descriptor()
	if doc.lines.root != nil {
		stringsAsWritten(md, tree, doc.lines.root)
	}
	var errs Errors
	checkFields(md, tree, "", func(field, msg string) {
		errs = append(errs, doc.Diagnostic(field, msg))
	})
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Diagnostic) int { return a.Line - b.Line })
		return doc, errs
	}
	if js, err = json.Marshal(tree); err == nil {
		err = protojson.Unmarshal(js, m)
	}
	if err != nil {
		return doc, Errors{{File: file, Message: protojsonMessage(err)}}
	}
	return doc, nil
}

// stringsAsWritten walks the JSON tree v of a message md alongside the YAML
// node n it came from, and replaces every boolean or number where md wants
// a string with the scalar's text in n. YAML 1.1, which the conversion to
// JSON follows, reads y, yes, on and off as booleans; the YAML 1.2 editors
// use, and the author, mean a string there.
func stringsAsWritten(md protoreflect.MessageDescriptor, v any, n *yaml3.Node) {
	obj, ok := v.(map[string]any)
	if !ok || n.Kind != yaml3.MappingNode {
		return
	}
	for key, val := range obj {
		fd := fieldByName(md, key)
		_, vn := lookupKey(n, key)
		if fd == nil || vn == nil {
			continue
		}
		switch {
		case fd.IsList():
			items, ok := val.([]any)
			if !ok || vn.Kind != yaml3.SequenceNode || len(items) != len(vn.Content) {
				continue
			}
			for i := range items {
				items[i] = valueAsWritten(fd, items[i], deref(vn.Content[i]))
			}
		case fd.IsMap():
			entries, ok := val.(map[string]any)
			if !ok || vn.Kind != yaml3.MappingNode {
				continue
			}
			for k := range entries {
				if _, en := lookupKey(vn, k); en != nil {
					entries[k] = valueAsWritten(fd.MapValue(), entries[k], en)
				}
			}
		default:
			obj[key] = valueAsWritten(fd, val, vn)
		}
	}
}

// valueAsWritten is stringsAsWritten for one value of field fd.
func valueAsWritten(fd protoreflect.FieldDescriptor, v any, n *yaml3.Node) any {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		stringsAsWritten(fd.Message(), v, n)
	case protoreflect.StringKind:
		switch v.(type) {
		case bool, json.Number:
			if n.Kind == yaml3.ScalarNode {
				return n.Value
			}
		}
	}
	return v
}

// Line returns the line where field, a path from the top of the document
// such as "tests[2].expect", is written, or where its nearest written parent
// is when it is not; 0 when the document has no lines to give.
func (d *Document) Line(field string) int {
	return d.lines.file(field)
}

// Diagnostic returns a diagnostic about field, with its Line.
func (d *Document) Diagnostic(field, message string) *Diagnostic {
	return &Diagnostic{File: d.file, Line: d.Line(field), Field: field, Message: message}
}

// yamlSyntaxError is the diagnostic of a file that is not YAML, on the
// line the problem is on (see yamlError).
func yamlSyntaxError(file string, data []byte, err error) *Diagnostic {
	line, msg := yamlError(err, data)
	return &Diagnostic{File: file, Line: line, Message: msg}
}
