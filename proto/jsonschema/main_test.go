package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"

	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
	policytestv1 "github.com/hookguard/hookguard/proto/hookguard/policytest/v1"
)

const (
	committed     = "../hookguard/policy/v1/policy.schema.json"
	committedTest = "../hookguard/policytest/v1/policytest.schema.json"
)

// withoutDescriptions decodes a schema and drops every description, which
// only a build with source info (make proto) can produce.
func withoutDescriptions(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "description")
			for _, e := range x {
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}

// TestCommittedSchemaIsFresh regenerates the schema from the compiled-in
// descriptors and compares everything but the descriptions, so a proto
// change without `make proto` fails here too, where buf is not at hand.
func TestCommittedSchemaIsFresh(t *testing.T) {
	for file, root := range map[string]protoreflect.MessageDescriptor{
		committed:     (&policyv1.PolicyFile{}).ProtoReflect().Descriptor(),
		committedTest: (&policytestv1.TestFile{}).ProtoReflect().Descriptor(),
	} {
		fresh, err := Generate(root)
		if err != nil {
			t.Fatal(err)
		}
		old, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(withoutDescriptions(t, fresh), withoutDescriptions(t, old)) {
			t.Errorf("%s is stale: run make proto", file)
		}
	}
}

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	return compileFile(t, committed)
}

func compileFile(t *testing.T, committed string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(committed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	name := filepath.Base(committed)
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatalf("the schema is not valid draft 2020-12: %v", err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, yamlText []byte) error {
	t.Helper()
	js, err := yaml.YAMLToJSON(yamlText)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// TestExamplePoliciesValidate checks every shipped policy against the
// schema: an editor must not flag a policy hookguard accepts.
func TestExamplePoliciesValidate(t *testing.T) {
	s := compile(t)
	files, _ := filepath.Glob("../../policies/*.yaml")
	more, _ := filepath.Glob("../../policies/*/*.yaml")
	n := 0
	for _, f := range append(files, more...) {
		if strings.HasSuffix(f, "_test.yaml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, s, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		n++
	}
	if n < 3 {
		t.Errorf("only %d example policies found", n)
	}
}

func TestSchemaRefusesWhatTheLoaderRefuses(t *testing.T) {
	s := compile(t)
	for name, doc := range map[string]string{
		"unknown top-level field": "endpoint: []\n",
		"unknown endpoint field":  "endpoints:\n- name: a\n  on_alow: {}\n",
		"two schemes":             "endpoints:\n- name: a\n  verify: {github: {secrets: [{env: A}]}, token: {header: x, secrets: [{env: A}]}}\n",
		"env and file":            "endpoints:\n- name: a\n  verify: {github: {secrets: [{env: A, file: b}]}}\n",
		"unknown mode":            "endpoints:\n- name: a\n  mode: LOUD\n",
		"methods not a list":      "endpoints:\n- name: a\n  match: {methods: POST}\n",
		"bool as string":          "endpoints:\n- name: a\n  replay: {disabled: 'yes'}\n",
	} {
		if err := validate(t, s, []byte(doc)); err == nil {
			t.Errorf("%s: the schema accepts\n%s", name, doc)
		}
	}
	ok := "endpoints:\n- name: a\n  match: {path_prefix: /a, methods: [POST]}\n  verify: {github: {secrets: [{env: A}, {file: /s}]}}\n  mode: DRY_RUN\n  on_allow: {set_headers: {x-a: b}}\n"
	if err := validate(t, s, []byte(ok)); err != nil {
		t.Errorf("a valid policy is refused: %v", err)
	}
}

// TestSchemaEnumSpellings checks the enum values against the loader's
// rule: a value's name in upper or lower case, with - for _, never the
// zero value.
func TestSchemaEnumSpellings(t *testing.T) {
	s := compile(t)
	for _, doc := range []string{
		"endpoints:\n- name: a\n  mode: dry_run\n  match: {methods: [post, GET]}\n  rate_limit: {rate: 1/s, per: [source, ENDPOINT]}\n",
		"defaults: {rate_limit: {rate: 1/s, per: [endpoint]}}\n",
		"endpoints:\n- name: a\n  mode: dry-run\n",
	} {
		if err := validate(t, s, []byte(doc)); err != nil {
			t.Errorf("the schema refuses\n%s%v", doc, err)
		}
	}
	for _, doc := range []string{
		"endpoints:\n- name: a\n  mode: MODE_UNSPECIFIED\n",
		"endpoints:\n- name: a\n  match: {methods: [FETCH]}\n",
		"endpoints:\n- name: a\n  rate_limit: {per: [planet]}\n",
		"endpoints:\n- name: a\n  match: {path: /a, path_prefix: /b}\n",
	} {
		if err := validate(t, s, []byte(doc)); err == nil {
			t.Errorf("the schema accepts\n%s", doc)
		}
	}
}

// TestEveryPolicyFieldDescribed checks that every message, field and enum
// value of policy.proto has a description in the committed schema: a
// comment left detached from its field (a blank line between) gives the
// editor nothing to show.
func TestEveryPolicyFieldDescribed(t *testing.T) {
	b, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	root := (&policyv1.PolicyFile{}).ProtoReflect().Descriptor()
	msgs := root.ParentFile().Messages()
	for i := range msgs.Len() {
		md := msgs.Get(i)
		node, _ := defs[string(md.FullName())].(map[string]any)
		if md == root {
			node = schema
		}
		if node == nil {
			t.Errorf("%s: not in the schema", md.FullName())
			continue
		}
		if node["description"] == nil {
			t.Errorf("%s: no description", md.FullName())
		}
		props, _ := node["properties"].(map[string]any)
		fields := md.Fields()
		for j := range fields.Len() {
			fd := fields.Get(j)
			prop, _ := props[string(fd.Name())].(map[string]any)
			if prop == nil || prop["description"] == nil {
				t.Errorf("%s: no description", fd.FullName())
				continue
			}
			if fd.Enum() == nil {
				continue
			}
			values := prop
			if items, ok := prop["items"].(map[string]any); ok {
				values = items
			}
			oneOf, _ := values["oneOf"].([]any)
			if len(oneOf) != fd.Enum().Values().Len()-1 {
				t.Errorf("%s: %d values in the schema", fd.FullName(), len(oneOf))
			}
			for _, v := range oneOf {
				if v.(map[string]any)["description"] == nil {
					t.Errorf("%s: a value without description: %v", fd.FullName(), v)
				}
			}
		}
	}
}

// TestExamplePolicyTestsValidate checks every shipped policy test file
// against the test file schema.
func TestExamplePolicyTestsValidate(t *testing.T) {
	s := compileFile(t, committedTest)
	files, _ := filepath.Glob("../../policies/*_test.yaml")
	more, _ := filepath.Glob("../../policies/*/*_test.yaml")
	files = append(files, more...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, s, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if len(files) < 3 {
		t.Errorf("only %d example policy test files found", len(files))
	}
	for name, doc := range map[string]string{
		"misspelt expectation": "tests:\n- name: a\n  request: {path: /a}\n  expect: {decison: allow}\n",
		"status as text":       "tests:\n- name: a\n  request: {path: /a}\n  expect: {status: ok}\n",
		"headers as a list":    "tests:\n- name: a\n  request: {path: /a, headers: [x-a]}\n  expect: {status: 200}\n",
	} {
		if err := validate(t, s, []byte(doc)); err == nil {
			t.Errorf("%s: the schema accepts\n%s", name, doc)
		}
	}
}

// TestVerifyFieldsDescribed: every field of verify.proto, and every value
// of its enums, has a leading comment, which editors show as its
// description. A comment separated from the field by a blank line is not
// leading, and would leave the field undescribed.
func TestVerifyFieldsDescribed(t *testing.T) {
	b, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Description string
				OneOf       []struct{ Description string }
				Items       struct {
					OneOf []struct{ Description string }
				}
			}
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	messages := policyv1.File_hookguard_policy_v1_verify_proto.Messages()
	for i := range messages.Len() {
		name := string(messages.Get(i).FullName())
		def, ok := schema.Defs[name]
		if !ok {
			t.Errorf("%s: not in the schema", name)
			continue
		}
		for field, p := range def.Properties {
			if p.Description == "" {
				t.Errorf("%s.%s: no description", name, field)
			}
			for _, v := range append(p.OneOf, p.Items.OneOf...) {
				if v.Description == "" {
					t.Errorf("%s.%s: a value without description", name, field)
				}
			}
		}
	}
}
