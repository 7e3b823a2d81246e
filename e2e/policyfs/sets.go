package policyfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// TokenEndpoint is a policy endpoint, to follow "endpoints:", named name at
// path /name: it accepts the token of the environment variable TOKEN in
// x-token and sets x-set: set on the requests it allows, so a test can tell
// which set decided.
func TokenEndpoint(name, set string) string {
	return fmt.Sprintf(`
  - name: %s
    match: {path: /%s}
    verify: {token: {header: x-token, secrets: [{env: TOKEN}]}}
    on_allow: {set_headers: {x-set: %q}}
`, name, name, set)
}

// Three policy sets for reload tests. A and B define endpoints one and two
// in opposite files, so any mix of A's and B's files defines an endpoint
// twice and cannot compile: a mixed set can never be live. C does not
// compile; were it live, /three would be allowed.
var (
	SetA = map[string]string{"one.yaml": "endpoints:" + TokenEndpoint("one", "a"), "two.yaml": "endpoints:" + TokenEndpoint("two", "a")}
	SetB = map[string]string{"one.yaml": "endpoints:" + TokenEndpoint("two", "b"), "two.yaml": "endpoints:" + TokenEndpoint("one", "b")}
	SetC = map[string]string{"one.yaml": "endpoints:" + TokenEndpoint("three", "c"), "two.yaml": "endpoints:" + TokenEndpoint("one", "c") + "    replay: {ttl: forever}\n"}
)

// Env is a SecretSource (package authz/policy) with environment variables from the map and
// files from disk, so tests leave the process environment alone.
type Env map[string]string

// LookupEnv returns the map's value for name.
func (e Env) LookupEnv(name string) (string, bool) { v, ok := e[name]; return v, ok }

// ReadFile reads the file from disk.
func (e Env) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// WriteFiles writes files (name → content) into dir and returns dir.
func WriteFiles(dir string, files map[string]string) (string, error) {
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}
