package stack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// DefaultMaxRequestBytes is the demo's ext_authz body limit (1 MiB), what a
// typical provider's largest delivery fits in.
const DefaultMaxRequestBytes = 1 << 20

// defaultConnBuffer is Envoy's own per_connection_buffer_limit_bytes default.
const defaultConnBuffer = 1 << 20

// EnvoyConfig holds the parameters of envoy/envoy.yaml.tmpl.
type EnvoyConfig struct {
	ListenPort      int    // HTTPS listener on 127.0.0.1
	MTLSPort        int    // HTTPS listener requiring a client certificate
	ClientCAFile    string // CA of the client certificates, PEM
	AdminPort       int    // admin interface on 127.0.0.1
	AuthzAddr       string // hookguard gRPC IP; default 127.0.0.1
	AuthzPort       int    // hookguard gRPC port
	MoreAuthzPorts  []int  // further hookguard replicas on AuthzAddr, balanced round robin
	UpstreamPort    int    // plain HTTP upstream on 127.0.0.1
	CertFile        string // server certificate PEM
	KeyFile         string // server key PEM
	MaxRequestBytes int    // ext_authz with_request_body.max_request_bytes

	// AuthzHost, if set, is hookguard's host as Envoy's /clusters names
	// it, when that is not AuthzAddr:AuthzPort (a unix socket's path).
	// Only StartEnvoyConfig uses it; the template has no pipe.
	AuthzHost string

	// NoBodyPath, when set, adds a route on that exact path whose
	// ext_authz check carries no body (disable_request_body_buffering),
	// the way a gateway without with_request_body sends it. Tests only.
	NoBodyPath string
}

// ConnBufferBytes is the listener and upstream connection buffer watermark:
// never below Envoy's 1 MiB default, and large enough for one whole body.
func (c EnvoyConfig) ConnBufferBytes() int {
	return max(c.MaxRequestBytes, defaultConnBuffer)
}

func (c EnvoyConfig) withDefaults() EnvoyConfig {
	if c.AuthzAddr == "" {
		c.AuthzAddr = "127.0.0.1"
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	return c
}

func (c EnvoyConfig) validate() error {
	for name, p := range map[string]int{
		"ListenPort": c.ListenPort, "MTLSPort": c.MTLSPort, "AdminPort": c.AdminPort,
		"AuthzPort": c.AuthzPort, "UpstreamPort": c.UpstreamPort,
	} {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("stack: EnvoyConfig.%s = %d is not a port", name, p)
		}
	}
	for _, p := range c.MoreAuthzPorts {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("stack: EnvoyConfig.MoreAuthzPorts holds %d, not a port", p)
		}
	}
	if c.CertFile == "" || c.KeyFile == "" || c.ClientCAFile == "" {
		return errors.New("stack: EnvoyConfig needs CertFile, KeyFile and ClientCAFile")
	}
	// Paths land inside double-quoted YAML scalars.
	if strings.ContainsAny(c.CertFile+c.KeyFile+c.ClientCAFile+c.NoBodyPath, "\"\\\n") {
		return errors.New("stack: certificate paths and NoBodyPath must not contain quotes, backslashes or newlines")
	}
	if c.NoBodyPath != "" && !strings.HasPrefix(c.NoBodyPath, "/") {
		return errors.New("stack: EnvoyConfig.NoBodyPath must start with /")
	}
	return nil
}

// DefaultTemplatePath is envoy/envoy.yaml.tmpl under the repository root.
func DefaultTemplatePath() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "envoy", "envoy.yaml.tmpl"), nil
}

// RenderEnvoyConfig executes the template at tmplPath with cfg. Missing keys
// are errors so a renamed field cannot render as "<no value>".
func RenderEnvoyConfig(tmplPath string, cfg EnvoyConfig, w io.Writer) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	src, err := os.ReadFile(tmplPath)
	if err != nil {
		return err
	}
	tmpl, err := template.New(filepath.Base(tmplPath)).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return err
	}
	return tmpl.Execute(w, cfg)
}

// ValidateEnvoyConfig runs `envoy --mode validate` on a rendered file, which
// catches unknown or deprecated-and-removed fields before anything listens.
func ValidateEnvoyConfig(ctx context.Context, envoyBin, configPath string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, envoyBin, "--mode", "validate", "--disable-hot-restart",
		"--concurrency", "1", "--log-level", "warn", "-c", configPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("envoy --mode validate -c %s: %w\n%s", configPath, err, out)
	}
	return nil
}

// Envoy is a running Envoy process.
type Envoy struct {
	Config        EnvoyConfig
	ConfigPath    string // rendered bootstrap
	LogPath       string // Envoy's own log (stderr)
	AccessLogPath string // the listener's JSON access log (stdout)

	proc  *process
	admin *http.Client
}

// EnvoyOptions tunes StartEnvoy; zero values pick the defaults.
type EnvoyOptions struct {
	Binary       string        // default: EnvoyBinary()
	TemplatePath string        // default: DefaultTemplatePath()
	ReadyTimeout time.Duration // default 20s
	Log          io.Writer     // progress lines; nil discards
}

// StartEnvoy renders the bootstrap into dir, validates it, starts Envoy and
// waits until admin /ready says LIVE.
func StartEnvoy(ctx context.Context, dir string, cfg EnvoyConfig, opts EnvoyOptions) (*Envoy, error) {
	cfg = cfg.withDefaults()
	tmplPath := opts.TemplatePath
	if tmplPath == "" {
		var err error
		if tmplPath, err = DefaultTemplatePath(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := RenderEnvoyConfig(tmplPath, cfg, &buf); err != nil {
		return nil, err
	}
	configPath := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(configPath, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return startEnvoyFile(ctx, dir, configPath, cfg, opts)
}

func (e *Envoy) waitReady(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		if e.proc.exited() {
			return false, fmt.Errorf("envoy: %w before becoming ready: %v", errExited, e.proc.waitErr)
		}
		body, status, err := e.adminGet("/ready")
		if err != nil {
			return false, nil // admin not listening yet
		}
		return status == http.StatusOK && strings.TrimSpace(body) == "LIVE", nil
	}, "envoy admin /ready to say LIVE")
}

// Stop kills Envoy and waits for it. Envoy has no in-flight state worth
// draining in tests, so there is no graceful phase.
func (e *Envoy) Stop() error {
	if e == nil || e.proc == nil {
		return nil
	}
	return e.proc.kill()
}

// Exited reports whether the Envoy process is gone.
func (e *Envoy) Exited() bool { return e.proc.exited() }

// Done is closed when the Envoy process has exited, for whatever reason.
func (e *Envoy) Done() <-chan struct{} { return e.proc.done }

// AdminURL is the base URL of the admin interface.
func (e *Envoy) AdminURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", e.Config.AdminPort)
}

// URL builds the HTTPS URL for path. It names "localhost" (the certificate's
// name); Client dials 127.0.0.1 regardless of what localhost resolves to.
func (e *Envoy) URL(path string) string {
	return fmt.Sprintf("https://localhost:%d%s", e.Config.ListenPort, path)
}

func (e *Envoy) adminGet(path string) (string, int, error) {
	resp, err := e.admin.Get(e.AdminURL() + path)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return string(b), resp.StatusCode, err
}

// Stats returns the counters and gauges whose names match the admin regex
// filter, e.g. Stats("ext_authz"). Histograms are skipped.
func (e *Envoy) Stats(filter string) (map[string]int64, error) {
	body, status, err := e.adminGet("/stats?filter=" + url.QueryEscape(filter))
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("envoy admin /stats: HTTP %d: %s", status, body)
	}
	stats := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			continue // a histogram summary line
		}
		stats[name] = n
	}
	return stats, sc.Err()
}

// Counter reads one stat by its full name, e.g.
// "http.ingress_http.ext_authz.denied". A counter Envoy has not created yet
// (nothing counted so far) reads as 0.
func (e *Envoy) Counter(name string) (int64, error) {
	stats, err := e.Stats("^" + regexp.QuoteMeta(name) + "$")
	if err != nil {
		return 0, err
	}
	return stats[name], nil
}

// ClusterHostHealthy reports whether /clusters marks host ("127.0.0.1:9191")
// of cluster as healthy.
func (e *Envoy) ClusterHostHealthy(cluster, host string) (bool, error) {
	body, status, err := e.adminGet("/clusters")
	if err != nil {
		return false, err
	}
	if status != http.StatusOK {
		return false, fmt.Errorf("envoy admin /clusters: HTTP %d", status)
	}
	prefix := cluster + "::" + host + "::health_flags::"
	for _, line := range strings.Split(body, "\n") {
		if flags, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(flags) == "healthy", nil
		}
	}
	return false, fmt.Errorf("envoy admin /clusters lists no host %s in cluster %s", host, cluster)
}

// WaitHookguardHealthy waits until Envoy's gRPC health check has marked the
// hookguard host healthy; before that every check request would be a 503.
func (e *Envoy) WaitHookguardHealthy(ctx context.Context, timeout time.Duration) error {
	return e.waitHookguard(ctx, timeout, true)
}

// WaitHookguardUnhealthy waits until Envoy has noticed hookguard is gone.
func (e *Envoy) WaitHookguardUnhealthy(ctx context.Context, timeout time.Duration) error {
	return e.waitHookguard(ctx, timeout, false)
}

func (e *Envoy) waitHookguard(ctx context.Context, timeout time.Duration, want bool) error {
	host := fmt.Sprintf("%s:%d", e.Config.AuthzAddr, e.Config.AuthzPort)
	if e.Config.AuthzHost != "" {
		host = e.Config.AuthzHost
	}
	return e.WaitHostHealth(ctx, host, want, timeout)
}

// WaitHostHealth waits until Envoy's health check marks host
// ("127.0.0.1:9191") of the hookguard cluster healthy (want true) or not.
func (e *Envoy) WaitHostHealth(ctx context.Context, host string, want bool, timeout time.Duration) error {
	what := fmt.Sprintf("hookguard cluster host %s healthy=%v", host, want)
	return poll(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		if e.proc.exited() {
			return false, fmt.Errorf("envoy %w", errExited)
		}
		healthy, err := e.ClusterHostHealthy("hookguard", host)
		if err != nil {
			return false, nil
		}
		return healthy == want, nil
	}, what)
}

// AccessLog parses the JSON access log lines written so far.
func (e *Envoy) AccessLog() ([]map[string]any, error) {
	return readJSONLines(e.AccessLogPath)
}

// poll calls cond every interval until it returns true, an error, or the
// timeout or ctx ends; a bounded wait is the only kind this package has.
func poll(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error), what string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(interval):
		}
	}
}

// readJSONLines decodes every line of path that is a JSON object, skipping
// anything else (start-up banners, Envoy's own warnings).
func readJSONLines(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			continue
		}
		out = append(out, m)
	}
	return out, sc.Err()
}
