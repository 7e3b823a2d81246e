package policy

import (
	"errors"
	"strings"
	"testing"

	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func TestClosest(t *testing.T) {
	names := []string{"decision", "status", "reason", "endpoint", "dry_run", "delivery_id", "env", "file"}
	for key, want := range map[string]string{
		"decison":    "decision", // a letter left out
		"descision":  "decision", // one too many
		"staus":      "status",
		"raeson":     "reason", // neighbours swapped
		"evn":        "env",
		"DryRun":     "dry_run", // case and separators are no edits
		"dry-run":    "dry_run",
		"deliveryid": "delivery_id",
		"fil":        "file",
		"verdict":    "", // another word, not a typo
		"x":          "",
		"endpoints":  "endpoint",
		"":           "",
	} {
		if got := closest(key, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestDecodeYAML(t *testing.T) {
	var f policyv1.PolicyFile
	doc, errs := DecodeYAML("p.yaml", []byte("endpoints:\n  - name: a\n    match: {path: /a}\n    verify:\n      github:\n        secrets: [{evn: X}]\n"), &f)
	if len(errs) != 1 || errs[0].Error() != `p.yaml:6: endpoints[0].verify.github.secrets[0].evn: unknown field "evn"; did you mean env? (valid: env, file)` {
		t.Errorf("errors %v", errs)
	}
	if d := doc.Diagnostic("endpoints[0].match.path", "bad"); d.Line != 3 || d.Error() != "p.yaml:3: endpoints[0].match.path: bad" {
		t.Errorf("diagnostic %v", d)
	}

	f.Reset()
	if _, errs := DecodeYAML("p.yaml", []byte("endpoints:\n  - name: a\n    match: {path: /a}\n"), &f); errs != nil || f.GetEndpoints()[0].GetMatch().GetPath() != "/a" {
		t.Errorf("valid document: %v %v", errs, &f)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"duplicate key":    {"endpoints: []\nendpoints: []\n", "p.yaml:2: invalid YAML: "},
		"not a mapping":    {"- a\n", "p.yaml: must be a mapping"},
		"wrong shape":      {"endpoints:\n  - name: [a]\n", "p.yaml:2: endpoints[0].name: must be a string"},
		"not a number":     {"endpoints:\n  - name: a\n    rate_limit: {burst: lots}\n", "p.yaml:3: endpoints[0].rate_limit.burst: must be a number"},
		"boolean":          {"endpoints:\n  - name: a\n    rate_limit: {burst: true}\n", "p.yaml:3: endpoints[0].rate_limit.burst: must be a number"},
		"number too large": {"endpoints:\n  - name: a\n    rate_limit: {burst: 99999999999}\n", "p.yaml: invalid value for uint32 field burst: 99999999999"},
	} {
		f.Reset()
		_, errs := DecodeYAML("p.yaml", []byte(tc.yaml), &f)
		if len(errs) == 0 || !strings.HasPrefix(errs.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, errs, tc.want)
		}
	}
	f.Reset()
	if _, errs := DecodeYAML("p.yaml", []byte("# nothing yet\n"), &f); errs != nil {
		t.Errorf("empty document: %v", errs)
	}
}

// protojson puts a space or, at random per build, a no-break space after its
// prefix; either way the message must read the same.
func TestProtojsonMessageSpaces(t *testing.T) {
	for _, in := range []string{
		"proto: (line 1:40): invalid value for uint32 field burst: 9",
		"proto:\u00a0(line 1:40):\u00a0invalid value for uint32 field burst: 9",
	} {
		if got := protojsonMessage(errors.New(in)); got != "invalid value for uint32 field burst: 9" {
			t.Errorf("protojsonMessage(%q) = %q", in, got)
		}
	}
}

// TestDecodeYAMLStringsAsWritten checks that a plain scalar where the
// schema wants a string is the string as written, whatever YAML 1.1 would
// make of it, in a field, a map value and a list item.
func TestDecodeYAMLStringsAsWritten(t *testing.T) {
	var f policyv1.PolicyFile
	_, errs := DecodeYAML("p.yaml", []byte("endpoints:\n  - name: yes\n    match: {hosts: [on, 1.10], path: /a}\n    on_allow:\n      set_headers: {x-a: 1.10, x-b: off, x-c: 007}\n"), &f)
	if errs != nil {
		t.Fatal(errs)
	}
	e := f.GetEndpoints()[0]
	if e.GetName() != "yes" {
		t.Errorf("name %q", e.GetName())
	}
	if h := e.GetMatch().GetHosts(); len(h) != 2 || h[0] != "on" || h[1] != "1.10" {
		t.Errorf("hosts %q", h)
	}
	if h := e.GetOnAllow().GetSetHeaders(); h["x-a"] != "1.10" || h["x-b"] != "off" || h["x-c"] != "007" {
		t.Errorf("set_headers %q", h)
	}
	// Where the schema wants no string, nothing changes: a boolean field
	// still refuses a string, and a mapping where a string belongs is
	// still an error.
	f.Reset()
	if _, errs := DecodeYAML("p.yaml", []byte("endpoints:\n  - name: {a: b}\n    replay: {disabled: 'yes'}\n"), &f); len(errs) != 2 ||
		errs[0].Error() != "p.yaml:2: endpoints[0].name: must be a string" || errs[1].Error() != "p.yaml:3: endpoints[0].replay.disabled: must be true or false" {
		t.Errorf("errors %v", errs)
	}
}
