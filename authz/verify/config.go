package verify

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// What the constructors of the schemes share to read their configuration
// messages. Everything here runs once per policy load.

// A FieldError is a problem with one field of a scheme's configuration. The
// policy compiler finds it with errors.As and reports it on the field, with
// the policy file, line and endpoint.
type FieldError struct {
	// Field is the field's path within the scheme's configuration
	// message, in the policy's spelling: "tolerance", "secrets[1]",
	// "keys[0].algorithm". Empty when the problem is the message as a
	// whole.
	Field string
	// Err says what is wrong. It never quotes a secret.
	Err error
}

// Error returns "field: problem", or the problem alone for the whole
// message.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldError returns a *FieldError saying msg about field.
func fieldError(field, msg string) error {
	return &FieldError{Field: field, Err: errors.New(msg)}
}

// ErrSecretValue is matched, with errors.Is, by the errors of constructors
// about the value a secret reference resolved to, such as a public key that
// does not parse, rather than about the policy. Where secrets are
// placeholders, as for `hookguard validate --skip-secrets`, such errors are
// expected and say nothing about the policy.
var ErrSecretValue = errors.New("secret value unusable")

// secretValueError is an error about a secret's value: it reads as the
// error it wraps, and matches ErrSecretValue.
type secretValueError struct{ err error }

func (e secretValueError) Error() string        { return e.err.Error() }
func (e secretValueError) Unwrap() error        { return e.err }
func (e secretValueError) Is(target error) bool { return target == ErrSecretValue }

// badSecret returns a *FieldError saying err about the value of the secret
// at field.
func badSecret(field string, err error) error {
	return &FieldError{Field: field, Err: secretValueError{err}}
}

// maxTolerance bounds a scheme's timestamp tolerance: beyond a day a
// timestamp no longer limits anything the replay cache could not.
const maxTolerance = 24 * time.Hour

// parseTolerance reads the tolerance field of a configuration: a Go
// duration, or "" for zero, which the constructors read as the provider's
// default.
func parseTolerance(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fieldError("tolerance", fmt.Sprintf("invalid duration %q (use e.g. 5m, 90s)", s))
	case d <= 0 || d > maxTolerance:
		return 0, fieldError("tolerance", "must be more than 0 and at most "+maxTolerance.String())
	}
	return d, nil
}

// secretsTolerance is a configuration with the two fields most schemes
// that sign a timestamp have.
type secretsTolerance interface {
	GetSecrets() []*policyv1.SecretRef
	GetTolerance() string
}

// secretsAndTolerance resolves c's secrets and reads its tolerance,
// reporting the problems of both.
func secretsAndTolerance(env Env, c secretsTolerance) ([]authz.Secret, time.Duration, error) {
	secrets, err1 := env.Secrets("secrets", c.GetSecrets())
	tolerance, err2 := parseTolerance(c.GetTolerance())
	if err := errors.Join(err1, err2); err != nil {
		return nil, 0, err
	}
	return secrets, tolerance, nil
}

// headerField reads a field naming a header: lower case, as verifiers look
// headers up, and a token as HTTP defines it.
func headerField(field, name string, required bool) (string, error) {
	name = strings.ToLower(name)
	switch {
	case name == "" && required:
		return "", fieldError(field, "required")
	case name != "" && !validHeaderName(name):
		return "", fieldError(field, "must be a header name")
	}
	return name, nil
}

// validHeaderName reports whether name is a header name (RFC 9110 token).
func validHeaderName(name string) bool {
	for i := 0; i < len(name); i++ {
		if !isTChar(name[i]) {
			return false
		}
	}
	return name != ""
}
