// Package policy loads and compiles policy directories into an
// [authz.Policy].
//
// A policy directory is every *.yaml and *.yml file directly in it. Each file
// is YAML, converted to JSON and decoded with protojson into the schema of
// proto/hookguard/policy/v1, with unknown fields refused. Loading then
// validates every field, resolves every secret reference and builds every
// verifier, collecting all problems at once, each with its file, endpoint and
// field. Nothing is parsed again per request.
package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// Result is a compiled policy set.
type Result struct {
	// Policy is the compiled snapshot, ready for authz.Authorizer.SetPolicy.
	Policy *authz.Policy
	// Files are the policy files read, in load order.
	Files []string
	// Revision identifies the set: a hash of its files' names and contents.
	Revision string
	// Warnings are problems that do not refuse the set, such as an endpoint
	// without replay protection.
	Warnings []*Diagnostic
}

// Options tune Load.
type Options struct {
	// Secrets resolves secret references; nil means OS.
	Secrets SecretSource
}

// Load reads, validates and compiles the policy directory dir. On any error
// it returns Errors listing every problem found, and no policy.
func Load(dir string, opts Options) (*Result, error) {
	files, err := policyFiles(dir)
	if err != nil {
		return nil, err
	}
	contents := make([][]byte, len(files))
	for i, f := range files {
		if contents[i], err = os.ReadFile(f); err != nil {
			return nil, Errors{{File: f, Message: err.Error()}}
		}
	}
	return compileFiles(dir, files, contents, opts)
}

// policyFiles lists the policy files of dir, sorted by name so that load
// order, and with it the order of equally specific endpoints, is stable.
func policyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Errors{{File: dir, Message: err.Error()}}
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml") {
			continue // hidden (git-sync, ..data) or policy tests
		}
		if ext := filepath.Ext(name); ext != ".yaml" && ext != ".yml" {
			continue
		}
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err != nil || info.IsDir() {
			continue
		}
		files = append(files, path)
	}
	if len(files) == 0 {
		return nil, Errors{{File: dir, Message: "no *.yaml or *.yml policy files"}}
	}
	return files, nil
}

func compileFiles(dir string, files []string, contents [][]byte, opts Options) (*Result, error) {
	if opts.Secrets == nil {
		opts.Secrets = OS{}
	}
	c := &compiler{dir: dir, secrets: opts.Secrets, seen: map[string]string{}}
	for i, f := range files {
		c.file(f, contents[i])
	}
	c.compileStages()
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	rev := revision(files, contents)
	p, err := authz.NewPolicy(rev, c.endpoints)
	if err != nil {
		// compile already checked what NewPolicy checks; this is a bug.
		return nil, Errors{{File: dir, Message: err.Error()}}
	}
	return &Result{Policy: p, Files: files, Revision: rev, Warnings: c.warnings}, nil
}

// revision hashes the files' base names and contents.
func revision(files []string, contents [][]byte) string {
	h := sha256.New()
	for i, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(contents[i]))
		h.Write(contents[i])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// compiler accumulates endpoints and diagnostics over the files of a set.
type compiler struct {
	dir       string
	secrets   SecretSource
	seen      map[string]string // endpoint name → file defining it
	endpoints []*authz.Endpoint
	errs      Errors
	warnings  []*Diagnostic
	defaults  *defaults       // the directory's defaults block, if any
	pending   []pendingStages // endpoints whose stages wait for defaults
}

// file decodes one policy file and compiles its endpoints.
func (c *compiler) file(name string, data []byte) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		c.errs = append(c.errs, &Diagnostic{File: name, Line: yamlErrorLine(err), Message: "invalid YAML: " + err.Error()})
		return
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		c.warnings = append(c.warnings, &Diagnostic{File: name, Message: "file is empty"})
		return
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(js, &doc); err != nil {
		c.errs = append(c.errs, &Diagnostic{File: name, Message: "a policy file is a mapping with an endpoints list"})
		return
	}
	fileDesc := (&policyv1.PolicyFile{}).ProtoReflect().Descriptor()
	for _, key := range sortedKeys(doc) {
		if fieldByName(fileDesc, key) == nil {
			c.errs = append(c.errs, &Diagnostic{File: name, Field: key, Message: unknownField(fileDesc)})
		}
	}
	if d, ok := doc["defaults"]; ok {
		c.defaultsBlock(name, d)
	}
	var raw []json.RawMessage
	if eps, ok := doc["endpoints"]; ok {
		if err := json.Unmarshal(eps, &raw); err != nil {
			c.errs = append(c.errs, &Diagnostic{File: name, Field: "endpoints", Message: "must be a list"})
			return
		}
	}
	if len(raw) == 0 {
		c.warnings = append(c.warnings, &Diagnostic{File: name, Message: "file defines no endpoints"})
	}
	for i, r := range raw {
		c.endpoint(name, i, r)
	}
}

// endpoint decodes and compiles the i-th endpoint of a file.
func (c *compiler) endpoint(file string, i int, raw json.RawMessage) {
	label := endpointLabel(raw, i)
	report := func(field, msg string) {
		c.errs = append(c.errs, &Diagnostic{File: file, Endpoint: label, Field: field, Message: msg})
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		report("", err.Error())
		return
	}
	before := len(c.errs)
	checkFields((&policyv1.Endpoint{}).ProtoReflect().Descriptor(), tree, "", report)
	if len(c.errs) > before {
		return
	}
	var ep policyv1.Endpoint
	if err := protojson.Unmarshal(raw, &ep); err != nil {
		report("", protojsonMessage(err))
		return
	}
	warn := func(field, msg string) {
		c.warnings = append(c.warnings, &Diagnostic{File: file, Endpoint: label, Field: field, Message: msg})
	}
	e, ok := c.compileEndpoint(file, &ep, report, warn)
	c.pending = append(c.pending, pendingStages{file: file, label: label, proto: &ep, endpoint: e})
	if ok {
		c.endpoints = append(c.endpoints, e)
	}
}

// endpointLabel names an endpoint in diagnostics: its name when it has a
// usable one, else its position.
func endpointLabel(raw json.RawMessage, i int) string {
	var named struct {
		Name any `json:"name"`
	}
	if json.Unmarshal(raw, &named) == nil {
		if s, ok := named.Name.(string); ok && s != "" {
			return s
		}
	}
	return fmt.Sprintf("endpoints[%d]", i)
}

// protojsonNoise is protojson's prefix and the JSON position it puts in its
// errors; the position points into the converted JSON, not the YAML the user
// wrote, so it goes.
var protojsonNoise = regexp.MustCompile(`^proto:\s*|\s*\(line \d+:\d+\)`)

// protojsonMessage is the text of a protojson error. checkFields catches
// unknown fields and wrong shapes first, with their paths; this is for what
// remains, such as a number out of range.
func protojsonMessage(err error) string {
	return protojsonNoise.ReplaceAllString(err.Error(), "")
}

// yamlLine finds "line N" in a YAML error.
var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
