package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"
)

// Options configures Start. Zero ports mean "pick a free one".
type Options struct {
	// Dir receives the certificates (ca.pem, server.pem, server-key.pem);
	// the rendered bootstrap and every log go to Dir/run.
	Dir string

	// PoliciesDir and HookguardBinary describe the hookguard to run. With
	// an empty HookguardBinary no hookguard is started and Envoy points at a
	// port nobody listens on: the fail-closed configuration.
	PoliciesDir     string
	HookguardBinary string
	HookguardEnv    []string // KEY=VALUE, added to the inherited environment
	HookguardArgs   []string // extra `hookguard serve` flags

	MaxRequestBytes int // default DefaultMaxRequestBytes
	// NoBodyPath adds a route whose checks carry no body; see
	// EnvoyConfig.NoBodyPath.
	NoBodyPath string

	ListenPort         int
	MTLSPort           int
	AdminPort          int
	GRPCPort           int
	HookguardAdminPort int
	UpstreamPort       int

	EnvoyBinary  string // default EnvoyBinary()
	TemplatePath string // default DefaultTemplatePath()

	// HealthyTimeout bounds the wait for Envoy's health check to see
	// hookguard (default 15s).
	HealthyTimeout time.Duration

	Log io.Writer // progress lines; nil discards
}

// Stack is one complete environment: client → Envoy (TLS) → ext_authz →
// hookguard, and on allow → Upstream.
type Stack struct {
	Dir       string
	Certs     *Certs
	Upstream  *Upstream
	Hookguard *Hookguard // nil when Options.HookguardBinary was empty
	Envoy     *Envoy

	// Client speaks HTTP/2 (what Envoy's ALPN prefers); Client11 forces
	// HTTP/1.1, the codec most webhook senders use.
	Client   *http.Client
	Client11 *http.Client
}

// Start brings the pieces up in dependency order (upstream and hookguard
// before Envoy, so Envoy's first health check already succeeds) and, when
// hookguard runs, waits until Envoy considers it healthy. On error whatever
// was started is stopped again.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.Dir == "" {
		return nil, errors.New("stack: Options.Dir is required")
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	s = &Stack{Dir: opts.Dir}
	defer func() {
		if err != nil {
			_ = s.Stop()
			s = nil
		}
	}()

	if s.Certs, err = GenerateCerts(opts.Dir); err != nil {
		return s, fmt.Errorf("certificates: %w", err)
	}
	if s.Upstream, err = StartUpstream(opts.UpstreamPort); err != nil {
		return s, fmt.Errorf("upstream: %w", err)
	}
	fmt.Fprintf(logw, "upstream: http://127.0.0.1:%d (echo)\n", s.Upstream.Port())

	authzPort := opts.GRPCPort
	if opts.HookguardBinary != "" {
		s.Hookguard, err = StartHookguard(ctx, s.RunDir(), HookguardConfig{
			Binary:      opts.HookguardBinary,
			PoliciesDir: opts.PoliciesDir,
			GRPCPort:    opts.GRPCPort,
			AdminPort:   opts.HookguardAdminPort,
			Env:         opts.HookguardEnv,
			ExtraArgs:   opts.HookguardArgs,
			Log:         logw,
		})
		if err != nil {
			return s, err
		}
		authzPort = s.Hookguard.Config.GRPCPort
	} else if authzPort == 0 {
		if authzPort, err = FreePort(); err != nil {
			return s, err
		}
	}

	listen, admin := opts.ListenPort, opts.AdminPort
	if listen == 0 {
		if listen, err = FreePort(); err != nil {
			return s, err
		}
	}
	if admin == 0 {
		if admin, err = FreePort(); err != nil {
			return s, err
		}
	}
	mtls := opts.MTLSPort
	if mtls == 0 {
		if mtls, err = FreePort(); err != nil {
			return s, err
		}
	}
	s.Envoy, err = StartEnvoy(ctx, s.RunDir(), EnvoyConfig{
		ListenPort:      listen,
		MTLSPort:        mtls,
		ClientCAFile:    s.Certs.CA.CertFile,
		AdminPort:       admin,
		AuthzAddr:       "127.0.0.1",
		AuthzPort:       authzPort,
		UpstreamPort:    s.Upstream.Port(),
		CertFile:        s.Certs.Server.CertFile,
		KeyFile:         s.Certs.Server.KeyFile,
		MaxRequestBytes: opts.MaxRequestBytes,
		NoBodyPath:      opts.NoBodyPath,
	}, EnvoyOptions{Binary: opts.EnvoyBinary, TemplatePath: opts.TemplatePath, Log: logw})
	if err != nil {
		return s, err
	}
	if s.Hookguard != nil {
		timeout := opts.HealthyTimeout
		if timeout == 0 {
			timeout = 15 * time.Second
		}
		if err = s.Envoy.WaitHookguardHealthy(ctx, timeout); err != nil {
			return s, fmt.Errorf("%w\n--- %s (tail) ---\n%s\n--- %s (tail) ---\n%s", err,
				s.Envoy.LogPath, tail(s.Envoy.LogPath, 2048), s.Hookguard.LogPath, tail(s.Hookguard.LogPath, 2048))
		}
		fmt.Fprintln(logw, "envoy: hookguard cluster is healthy")
	}
	s.Client = NewClient(s.Certs.ClientTLSConfig(), listen, true)
	s.Client11 = NewClient(s.Certs.ClientTLSConfig(), listen, false)
	return s, nil
}

// Stop tears everything down in reverse order and reports the first error.
// It is safe to call more than once.
func (s *Stack) Stop() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, c := range []*http.Client{s.Client, s.Client11} {
		if c != nil {
			c.CloseIdleConnections()
		}
	}
	if s.Envoy != nil {
		errs = append(errs, s.Envoy.Stop())
	}
	if s.Hookguard != nil {
		errs = append(errs, s.Hookguard.Stop())
	}
	if s.Upstream != nil {
		errs = append(errs, s.Upstream.Close())
	}
	return errors.Join(errs...)
}

// RunDir holds the rendered Envoy bootstrap and the logs of Envoy and
// hookguard.
func (s *Stack) RunDir() string { return filepath.Join(s.Dir, "run") }

// URL is the HTTPS URL of path on the Envoy listener.
func (s *Stack) URL(path string) string { return s.Envoy.URL(path) }

// MTLSURL is path on the listener that requires a client certificate.
func (s *Stack) MTLSURL(path string) string {
	return "https://localhost:" + itoa(s.Envoy.Config.MTLSPort) + path
}

// LogTails returns the end of every log, for a failing test to print.
func (s *Stack) LogTails(n int64) string {
	out := ""
	if s.Envoy != nil {
		out += fmt.Sprintf("--- %s ---\n%s\n--- %s ---\n%s\n", s.Envoy.LogPath, tail(s.Envoy.LogPath, n),
			s.Envoy.AccessLogPath, tail(s.Envoy.AccessLogPath, n))
	}
	if s.Hookguard != nil {
		out += fmt.Sprintf("--- %s ---\n%s\n", s.Hookguard.LogPath, tail(s.Hookguard.LogPath, n))
	}
	return out
}
