package policy

import (
	"fmt"
	"strings"
)

// Diagnostic is one problem found in a policy set: an error that refuses the
// set, or a warning that does not.
type Diagnostic struct {
	// File is the policy file's path, as found in the directory.
	File string `json:"file"`
	// Line is the 1-based line in File, or 0 when unknown.
	Line int `json:"line,omitempty"`
	// Endpoint is the endpoint's name, or "endpoints[i]" when it has none.
	Endpoint string `json:"endpoint,omitempty"`
	// Field is the field's path within the endpoint, such as
	// "verify.github.secrets[0].env".
	Field string `json:"field,omitempty"`
	// Message says what is wrong. It never holds a secret value.
	Message string `json:"message"`
	// Code classifies the problem. Every diagnostic Load returns has
	// one.
	Code Code `json:"code,omitempty"`
}

// A Code classifies a diagnostic, for tools that act on some kinds only, as
// `hookguard validate --skip-secrets` ignores what placeholder secrets
// cause. The set is closed: a new check reports under one of these codes.
type Code string

const (
	// CodePolicy is a problem of the policy itself: its YAML, a field, a
	// value, a file it names, or a weakness a warning points out. Every
	// diagnostic without one of the codes below has it.
	CodePolicy Code = "policy"
	// CodeSecretUnresolved is a secret reference that does not resolve:
	// its environment variable is not set, its file cannot be read, or
	// the secret is empty.
	CodeSecretUnresolved Code = "secret_unresolved"
	// CodeSecretValue is a secret that resolved to a value its scheme
	// cannot use, such as a public key that does not parse (see
	// verify.ErrSecretValue). Placeholder secrets always raise it.
	CodeSecretValue Code = "secret_value"
)

// fillCodes gives CodePolicy to each diagnostic reported without a code.
func fillCodes(diags []*Diagnostic) {
	for _, d := range diags {
		if d.Code == "" {
			d.Code = CodePolicy
		}
	}
}

// Error formats the diagnostic as "file:line: endpoint "name": field: message".
func (d *Diagnostic) Error() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d", d.Line)
	}
	if d.Endpoint != "" {
		fmt.Fprintf(&b, ": endpoint %q", d.Endpoint)
	}
	if d.Field != "" {
		b.WriteString(": ")
		b.WriteString(d.Field)
	}
	b.WriteString(": ")
	b.WriteString(d.Message)
	return b.String()
}

// Errors is the list of errors that refused a policy set; every error found
// is listed, not just the first.
type Errors []*Diagnostic

// Error lists the errors one per line.
func (l Errors) Error() string {
	lines := make([]string, len(l))
	for i, d := range l {
		lines[i] = d.Error()
	}
	return strings.Join(lines, "\n")
}
