package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// HookguardEnv names the environment variable that points at a prebuilt
// hookguard binary, so a test run can skip the build.
const HookguardEnv = "HOOKGUARD_BIN"

// BuildHookguard compiles ./cmd/hookguard from the repository root into out.
// Tests build once per run and share the result.
func BuildHookguard(ctx context.Context, out string, logw io.Writer) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	if logw == nil {
		logw = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	fmt.Fprintf(logw, "hookguard: go build -o %s ./cmd/hookguard\n", out)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/hookguard")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build ./cmd/hookguard: %w\n%s", err, b)
	}
	return nil
}

// HookguardConfig describes one `hookguard serve` process.
type HookguardConfig struct {
	Binary      string
	PoliciesDir string
	GRPCPort    int // 0 picks a free port
	AdminPort   int // 0 picks a free port
	// Env is added to the inherited environment (KEY=VALUE), typically the
	// secrets the policies reference, e.g. GITHUB_WEBHOOK_SECRET=....
	Env          []string
	ExtraArgs    []string
	ReadyTimeout time.Duration // default 20s
	Log          io.Writer     // progress lines; nil discards
}

// Hookguard is a running hookguard serve process.
type Hookguard struct {
	Config  HookguardConfig
	LogPath string // JSON log: one object per line, decisions included
	proc    *process
}

// StartHookguard starts `hookguard serve` with its log in dir/hookguard.log
// and waits until its admin /readyz answers 200.
func StartHookguard(ctx context.Context, dir string, cfg HookguardConfig) (*Hookguard, error) {
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	if cfg.Binary == "" || cfg.PoliciesDir == "" {
		return nil, fmt.Errorf("stack: HookguardConfig needs Binary and PoliciesDir")
	}
	var err error
	if cfg.GRPCPort == 0 {
		if cfg.GRPCPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if cfg.AdminPort == 0 {
		if cfg.AdminPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	h := &Hookguard{Config: cfg, LogPath: filepath.Join(dir, "hookguard.log")}
	argv := append([]string{cfg.Binary, "serve",
		"--policies", cfg.PoliciesDir,
		"--grpc-addr", h.GRPCAddr(),
		"--admin-addr", fmt.Sprintf("127.0.0.1:%d", cfg.AdminPort),
		"--log-format", "json",
	}, cfg.ExtraArgs...)
	env := append(os.Environ(), cfg.Env...)
	proc, err := startProcess("hookguard", argv, env, dir, h.LogPath, "")
	if err != nil {
		return nil, err
	}
	h.proc = proc
	fmt.Fprintf(logw, "hookguard: pid %d, grpc %s, admin 127.0.0.1:%d, log %s\n",
		proc.cmd.Process.Pid, h.GRPCAddr(), cfg.AdminPort, h.LogPath)
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	client := &http.Client{Timeout: 2 * time.Second}
	readyURL := fmt.Sprintf("http://127.0.0.1:%d/readyz", cfg.AdminPort)
	err = poll(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		if proc.exited() {
			return false, fmt.Errorf("hookguard %w before becoming ready: %v", errExited, proc.waitErr)
		}
		resp, err := client.Get(readyURL)
		if err != nil {
			return false, nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}, "hookguard "+readyURL+" to answer 200")
	if err != nil {
		_ = h.Stop()
		return nil, fmt.Errorf("%w\n--- %s (tail) ---\n%s", err, h.LogPath, tail(h.LogPath, 4096))
	}
	return h, nil
}

// GRPCAddr is the address Envoy's hookguard cluster must point at.
func (h *Hookguard) GRPCAddr() string {
	return net.JoinHostPort("127.0.0.1", itoa(h.Config.GRPCPort))
}

// AdminURL is the base URL of hookguard's admin server.
func (h *Hookguard) AdminURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", h.Config.AdminPort)
}

// Stop sends SIGTERM and waits up to 10 s for a graceful exit, then kills.
func (h *Hookguard) Stop() error {
	if h == nil || h.proc == nil {
		return nil
	}
	return h.proc.stop(10 * time.Second)
}

// Signal sends sig to the process, e.g. SIGHUP to reload the policy.
func (h *Hookguard) Signal(sig os.Signal) error {
	if h == nil || h.proc == nil {
		return errors.New("stack: hookguard is not running")
	}
	return h.proc.cmd.Process.Signal(sig)
}

// Exited reports whether the process is gone.
func (h *Hookguard) Exited() bool { return h.proc.exited() }

// Done is closed when the hookguard process has exited, for whatever reason.
func (h *Hookguard) Done() <-chan struct{} { return h.proc.done }

// Log returns the raw log written so far.
func (h *Hookguard) Log() (string, error) {
	b, err := os.ReadFile(h.LogPath)
	return string(b), err
}

// LogLines parses every JSON object line of the log.
func (h *Hookguard) LogLines() ([]map[string]any, error) {
	return readJSONLines(h.LogPath)
}

// Decisions returns the log lines that record an authorization decision
// (those with a "decision" field), in order.
func (h *Hookguard) Decisions() ([]map[string]any, error) {
	lines, err := h.LogLines()
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, l := range lines {
		if d, ok := l["decision"].(string); ok && strings.TrimSpace(d) != "" {
			out = append(out, l)
		}
	}
	return out, nil
}
