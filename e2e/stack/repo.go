package stack

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// EnvoyEnv names the environment variable that overrides where the Envoy
// binary is, for machines that keep it outside the repository.
const EnvoyEnv = "HOOKGUARD_ENVOY"

// RepoRoot walks up from the working directory to the directory holding
// go.mod. Tests run in their package directory and the demo in the repo root,
// so both find envoy/, policies/ and .tools/ the same way.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("stack: no go.mod above the working directory")
		}
		dir = parent
	}
}

// EnvoyBinary returns the Envoy to run: $HOOKGUARD_ENVOY if set, else
// <repo root>/.tools/envoy/bin/envoy. A missing binary is an error that says
// how to install it, because silently skipping e2e tests hides regressions.
func EnvoyBinary() (string, error) {
	path := os.Getenv(EnvoyEnv)
	if path == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, ".tools", "envoy", "bin", "envoy")
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("envoy binary not found at %s (set %s or run `make envoy`): %w", path, EnvoyEnv, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("envoy binary at %s is not executable (run `make envoy`)", path)
	}
	return path, nil
}

// FreePort asks the kernel for an unused TCP port on 127.0.0.1. The port is
// released before it is returned, so another process could take it in the
// meantime; on a test machine that race is rare enough to accept.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// PortOrFree returns want if it can be bound on 127.0.0.1 right now, else a
// free port, so the demo keeps its well-known ports when it can.
func PortOrFree(want int) (int, error) {
	if want > 0 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", want))
		if err == nil {
			ln.Close()
			return want, nil
		}
	}
	return FreePort()
}

func itoa(n int) string { return fmt.Sprint(n) }
