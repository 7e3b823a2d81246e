package policy

import (
	"bytes"
	"os"

	"github.com/hookguard/hookguard/authz"
)

// A SecretSource resolves the secret references of a policy. The loader reads
// secrets only through it, so `hookguard test` can supply test secrets and
// nothing in a policy run touches the real environment.
type SecretSource interface {
	// LookupEnv returns the value of an environment variable.
	LookupEnv(name string) (string, bool)
	// ReadFile returns the content of a file.
	ReadFile(path string) ([]byte, error)
}

// OS reads secrets from the process environment and the file system.
type OS struct{}

// LookupEnv calls os.LookupEnv.
func (OS) LookupEnv(name string) (string, bool) { return os.LookupEnv(name) }

// ReadFile calls os.ReadFile.
func (OS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// FileSecret is the secret held by a file's content: the content without one
// trailing newline, which files written with echo or an editor end in and
// which is never part of the secret.
func FileSecret(content []byte) authz.Secret {
	content = bytes.TrimSuffix(content, []byte("\n"))
	return authz.Secret(bytes.TrimSuffix(content, []byte("\r")))
}

// Placeholders resolves every reference to a placeholder value, so a policy
// set can be validated where its secrets are absent, such as in the CI of a
// policy repository.
type Placeholders struct{}

// LookupEnv reports every variable as set.
func (Placeholders) LookupEnv(string) (string, bool) { return "placeholder", true }

// ReadFile reports every file as readable.
func (Placeholders) ReadFile(string) ([]byte, error) { return []byte("placeholder"), nil }
