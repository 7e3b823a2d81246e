// Command jsonschema writes the JSON Schema (draft 2020-12) of hookguard
// policy files and policy test files, for editors: with the
// yaml-language-server, a policy file that starts with
//
//	# yaml-language-server: $schema=<path or URL of policy.schema.json>
//
// gets completion, hover documentation and errors as it is typed; a
// *_test.yaml file does with policytest.schema.json.
//
// Each schema is derived from the proto definition (hookguard.policy.v1
// PolicyFile, hookguard.policytest.v1 TestFile), the one definition of what
// such a file may say, so it cannot drift from what the loader accepts
// (enum values are spelt by the loader's own policy.EnumSpellings):
// `make proto` regenerates it and `make proto-check` fails when the
// committed copy is stale. Descriptions come from the proto comments, which
// the generated Go code does not keep; they are read from a buf image built
// with source info:
//
//	buf build --as-file-descriptor-set -o image.binpb
//	go run ./proto/jsonschema -image image.binpb -o proto/hookguard/policy/v1/policy.schema.json
//	go run ./proto/jsonschema -image image.binpb -message hookguard.policytest.v1.TestFile \
//		-o proto/hookguard/policytest/v1/policytest.schema.json
//
// Without -image the compiled-in descriptors are used, and the schema has
// no descriptions; its tests compare that structure with the committed file.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hookguard/hookguard/authz/policy"
	// The compiled-in descriptors of the files' messages, for runs
	// without -image.
	_ "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
	_ "github.com/hookguard/hookguard/proto/hookguard/policytest/v1"
)

// policyFile is the message a policy file holds, the default root.
const policyFile = "hookguard.policy.v1.PolicyFile"

// titles are the schemas' titles, by root message.
var titles = map[protoreflect.FullName]string{
	policyFile:                         "hookguard policy file",
	"hookguard.policytest.v1.TestFile": "hookguard policy test file",
}

func main() {
	image := flag.String("image", "", "FileDescriptorSet with source info, from `buf build --as-file-descriptor-set`; empty: compiled-in descriptors, no descriptions")
	message := flag.String("message", policyFile, "full name of the message a file holds")
	out := flag.String("o", "", "output file (default: standard output)")
	flag.Parse()
	b, err := build(*image, protoreflect.FullName(*message))
	if err == nil {
		if *out == "" {
			_, err = os.Stdout.Write(b)
		} else {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jsonschema:", err)
		os.Exit(1)
	}
}

// build loads the descriptors and generates the schema of message.
func build(image string, message protoreflect.FullName) ([]byte, error) {
	files := protoregistry.GlobalFiles
	if image != "" {
		raw, err := os.ReadFile(image)
		if err != nil {
			return nil, err
		}
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(raw, &set); err != nil {
			return nil, fmt.Errorf("%s: %w", image, err)
		}
		if files, err = protodesc.NewFiles(&set); err != nil {
			return nil, fmt.Errorf("%s: %w", image, err)
		}
	}
	d, err := files.FindDescriptorByName(message)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", message, err)
	}
	root, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a message", message)
	}
	return Generate(root)
}

// Generate returns the schema of JSON (and so YAML) documents that protojson
// decodes into root: the root message inline, every other message under
// $defs, in declaration order so the file reads like the proto.
func Generate(root protoreflect.MessageDescriptor) ([]byte, error) {
	g := &generator{defs: obj{}}
	title, ok := titles[root.FullName()]
	if !ok {
		title = string(root.FullName())
	}
	top := obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"title", title},
	}
	top = append(top, g.message(root)...)
	g.done = map[protoreflect.FullName]bool{root.FullName(): true}
	for i := 0; i < len(g.pending); i++ {
		md := g.pending[i]
		if g.done[md.FullName()] {
			continue
		}
		g.done[md.FullName()] = true
		g.defs = append(g.defs, kv{string(md.FullName()), g.message(md)})
	}
	if len(g.defs) > 0 {
		top = append(top, kv{"$defs", g.defs})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(top); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type generator struct {
	defs    obj
	pending []protoreflect.MessageDescriptor
	done    map[protoreflect.FullName]bool
}

// message is the schema of one message: an object with its fields, nothing
// else (protojson refuses unknown fields), and at most one field of each
// oneof.
func (g *generator) message(md protoreflect.MessageDescriptor) obj {
	s := obj{{"type", "object"}}
	s = describe(s, md)
	props := obj{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		props = append(props, kv{string(fd.Name()), g.field(fd)})
	}
	s = append(s, kv{"properties", props}, kv{"additionalProperties", false})
	oneofs := md.Oneofs()
	var dependent obj
	for i := range oneofs.Len() {
		o := oneofs.Get(i)
		if o.IsSynthetic() {
			continue
		}
		if o.Fields().Len() == fields.Len() {
			// The message is the oneof: one key at most.
			s = append(s, kv{"maxProperties", 1})
			continue
		}
		for j := range o.Fields().Len() {
			var others []any
			for k := range o.Fields().Len() {
				if k != j {
					others = append(others, obj{{"required", []string{string(o.Fields().Get(k).Name())}}})
				}
			}
			dependent = append(dependent, kv{string(o.Fields().Get(j).Name()), obj{{"not", obj{{"anyOf", others}}}}})
		}
	}
	if len(dependent) > 0 {
		s = append(s, kv{"dependentSchemas", dependent})
	}
	return s
}

// field is the schema of a field's JSON value.
func (g *generator) field(fd protoreflect.FieldDescriptor) obj {
	var s obj
	switch {
	case fd.IsMap():
		s = obj{{"type", "object"}, {"additionalProperties", g.value(fd.MapValue())}}
	case fd.IsList():
		s = obj{{"type", "array"}, {"items", g.value(fd)}}
	default:
		s = g.value(fd)
	}
	return describe(s, fd)
}

// value is the schema of one singular value of fd.
func (g *generator) value(fd protoreflect.FieldDescriptor) obj {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := fd.Message()
		if s, ok := wellKnown(md.FullName()); ok {
			return s
		}
		g.pending = append(g.pending, md)
		return obj{{"$ref", "#/$defs/" + string(md.FullName())}}
	case protoreflect.EnumKind:
		// The loader takes a value's name in any case, with - for _, and
		// refuses the zero value, which only means unset: offer each
		// other value in the spellings policies use, DRY_RUN, dry_run and
		// dry-run.
		var values []any
		ev := fd.Enum().Values()
		for i := range ev.Len() {
			// Spelt as the loader reads them: one entry per value,
			// with its description.
			switch spellings := policy.EnumSpellings(ev.Get(i)); len(spellings) {
			case 0:
			case 1:
				values = append(values, describe(obj{{"const", spellings[0]}}, ev.Get(i)))
			default:
				values = append(values, describe(obj{{"enum", spellings}}, ev.Get(i)))
			}
		}
		return obj{{"type", "string"}, {"oneOf", values}}
	case protoreflect.StringKind:
		return obj{{"type", "string"}}
	case protoreflect.BoolKind:
		return obj{{"type", "boolean"}}
	case protoreflect.BytesKind:
		return obj{{"type", "string"}, {"contentEncoding", "base64"}}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return obj{{"type", "integer"}, {"minimum", -1 << 31}, {"maximum", 1<<31 - 1}}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return obj{{"type", "integer"}, {"minimum", 0}, {"maximum", 1<<32 - 1}}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// protojson also takes 64-bit integers as strings.
		return obj{{"type", []string{"integer", "string"}}, {"pattern", `^-?[0-9]+$`}}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return obj{{"type", []string{"integer", "string"}}, {"minimum", 0}, {"pattern", `^[0-9]+$`}}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return obj{{"type", "number"}}
	}
	return obj{}
}

// wellKnown is the JSON form protojson gives the well-known types.
func wellKnown(name protoreflect.FullName) (obj, bool) {
	switch name {
	case "google.protobuf.Duration":
		return obj{{"type", "string"}, {"pattern", `^-?[0-9]+(\.[0-9]{1,9})?s$`}}, true
	case "google.protobuf.Timestamp":
		return obj{{"type", "string"}, {"format", "date-time"}}, true
	case "google.protobuf.Struct":
		return obj{{"type", "object"}}, true
	case "google.protobuf.Value":
		return obj{}, true
	case "google.protobuf.ListValue":
		return obj{{"type", "array"}}, true
	case "google.protobuf.FieldMask":
		return obj{{"type", "string"}}, true
	case "google.protobuf.Empty":
		return obj{{"type", "object"}, {"maxProperties", 0}}, true
	case "google.protobuf.StringValue":
		return obj{{"type", "string"}}, true
	case "google.protobuf.BoolValue":
		return obj{{"type", "boolean"}}, true
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return obj{{"type", "integer"}}, true
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return obj{{"type", []string{"integer", "string"}}}, true
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return obj{{"type", "number"}}, true
	}
	return nil, false
}

// describe adds d's leading comment, if the descriptors kept it, as the
// description right after the type, where editors look first.
func describe(s obj, d protoreflect.Descriptor) obj {
	text := comment(d)
	if text == "" {
		return s
	}
	at := 0
	if len(s) > 0 && s[0].k == "type" {
		at = 1
	}
	out := make(obj, 0, len(s)+1)
	out = append(out, s[:at]...)
	out = append(out, kv{"description", text})
	return append(out, s[at:]...)
}

// comment is d's leading comment with the comment markers' spaces removed,
// lines of a paragraph joined and paragraphs separated by a blank line.
func comment(d protoreflect.Descriptor) string {
	f := d.ParentFile()
	if f == nil {
		return ""
	}
	loc := f.SourceLocations().ByDescriptor(d)
	var paras []string
	for _, p := range strings.Split(loc.LeadingComments, "\n\n") {
		var lines []string
		for _, l := range strings.Split(p, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			paras = append(paras, strings.Join(lines, " "))
		}
	}
	return strings.Join(paras, "\n\n")
}

// kv is one member of a JSON object.
type kv struct {
	k string
	v any
}

// obj is a JSON object that keeps its members in order, so the schema
// reads in the proto's order and regenerates byte for byte.
type obj []kv

// MarshalJSON writes the members in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping, which would turn the
// comments' < and > into \u003c and \u003e.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
