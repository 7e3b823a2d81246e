package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Localize says how a shipped Envoy config (envoy/front-proxy.yaml,
// envoy/sidecar.yaml) is moved onto this machine for a test: the file is
// run as shipped, with only its file paths, addresses and ports replaced.
type Localize struct {
	// Paths maps a path prefix in the config (/etc/envoy/) to a directory
	// here; it applies to every DataSource filename and pipe path.
	Paths map[string]string
	// Hosts maps socket addresses (0.0.0.0, a DNS name) to an IP here.
	Hosts map[string]string
	// Ports maps each port in the config to a port here.
	Ports map[int]int
}

// LocalizeEnvoyConfig rewrites the YAML config src as l says and returns it
// as JSON, which Envoy reads as YAML. Every absolute path, socket address and
// port must be covered by l, and every file named must exist after the
// rewrite, so a test can neither touch the machine's /etc nor silently run
// with a file missing.
func LocalizeEnvoyConfig(src []byte, l Localize) ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	var errs []string
	path := func(p string) string {
		prefixes := make([]string, 0, len(l.Paths))
		for k := range l.Paths {
			prefixes = append(prefixes, k)
		}
		sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
		for _, k := range prefixes {
			if rest, ok := strings.CutPrefix(p, k); ok {
				return filepath.Join(l.Paths[k], rest)
			}
		}
		errs = append(errs, "no Localize.Paths entry for "+p)
		return p
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				switch k {
				case "filename":
					p := path(child.(string))
					if _, err := os.Stat(p); err != nil {
						errs = append(errs, fmt.Sprintf("%s: %v", child, err))
					}
					v[k] = p
				case "pipe":
					pipe := child.(map[string]any)
					pipe["path"] = path(pipe["path"].(string))
				case "socket_address":
					sa := child.(map[string]any)
					addr := sa["address"].(string)
					if ip, ok := l.Hosts[addr]; ok {
						sa["address"] = ip
					} else if addr != "127.0.0.1" {
						errs = append(errs, "no Localize.Hosts entry for "+addr)
					}
					port := int(sa["port_value"].(float64))
					if p, ok := l.Ports[port]; ok {
						sa["port_value"] = p
					} else {
						errs = append(errs, fmt.Sprintf("no Localize.Ports entry for %d", port))
					}
				default:
					walk(child)
				}
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("localize Envoy config: %s", strings.Join(errs, "; "))
	}
	return json.MarshalIndent(doc, "", " ")
}

// ShippedEnvoyConfig returns envoy/<name> from the repository.
func ShippedEnvoyConfig(name string) ([]byte, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(root, "envoy", name))
}

// StartEnvoyConfig validates and starts Envoy on config (JSON or YAML bytes)
// written to dir/envoy.json, and waits until admin /ready says LIVE. cfg
// gives the helpers (URL, Stats, WaitHookguardHealthy) the listener and
// admin ports and hookguard's host as the config names them; AuthzHost, if
// set, is the cluster host as Envoy's /clusters lists it (a pipe's path).
func StartEnvoyConfig(ctx context.Context, dir string, config []byte, cfg EnvoyConfig, opts EnvoyOptions) (*Envoy, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "envoy.json")
	if err := os.WriteFile(path, config, 0o644); err != nil {
		return nil, err
	}
	return startEnvoyFile(ctx, dir, path, cfg, opts)
}

// startEnvoyFile runs Envoy on a config file already written to dir.
func startEnvoyFile(ctx context.Context, dir, configPath string, cfg EnvoyConfig, opts EnvoyOptions) (*Envoy, error) {
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = EnvoyBinary(); err != nil {
			return nil, err
		}
	}
	e := &Envoy{
		Config:        cfg,
		ConfigPath:    configPath,
		LogPath:       filepath.Join(dir, "envoy.log"),
		AccessLogPath: filepath.Join(dir, "envoy-access.log"),
		admin:         &http.Client{Timeout: 2 * time.Second},
	}
	fmt.Fprintf(logw, "envoy: validating %s\n", e.ConfigPath)
	if err := ValidateEnvoyConfig(ctx, bin, e.ConfigPath); err != nil {
		return nil, err
	}
	argv := []string{bin,
		// Several Envoys (tests, demo) may share a machine; hot restart would
		// make them fight over one shared-memory domain socket.
		"--disable-hot-restart",
		// One worker: the machine has two cores and hookguard needs one.
		"--concurrency", "1",
		"--log-level", "warn",
		// Access log lines are buffered up to 10 s by default; tests read
		// them right after a request and demo users tail them.
		"--file-flush-interval-msec", "200",
		"-c", e.ConfigPath,
	}
	proc, err := startProcess("envoy", argv, os.Environ(), dir, e.LogPath, e.AccessLogPath)
	if err != nil {
		return nil, err
	}
	e.proc = proc
	fmt.Fprintf(logw, "envoy: pid %d, listener 127.0.0.1:%d, admin 127.0.0.1:%d, log %s\n",
		proc.cmd.Process.Pid, cfg.ListenPort, cfg.AdminPort, e.LogPath)
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	if err := e.waitReady(ctx, timeout); err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("%w\n--- %s (tail) ---\n%s", err, e.LogPath, tail(e.LogPath, 4096))
	}
	return e, nil
}
