// Command demo runs hookguard behind a real Envoy on this machine, for
// `make demo`: a throwaway CA and TLS certificate, an echo upstream, a policy
// directory, and ready-to-paste curl lines for the endpoints it defines.
// Ctrl-C stops it all.
//
//	go run ./cmd/demo [-policies DIR] [-v] [-listen PORT] [-mtls PORT] ...
//	make demo DEMO_FLAGS='-policies DIR'
//
// By default it serves the repository's policies/ (github, gitlab and
// partner). -policies DIR serves another directory, such as
// policies/providers, and the lines printed are then those of DIR's
// endpoints:
//
//   - For a scheme `hookguard sign` can sign with the endpoint's secret, a
//     signed delivery. Each line is checked in-process against the endpoint
//     before it is printed, so it works as pasted.
//   - For a token endpoint, the token header.
//   - For the others, such as the asymmetric schemes (Discord, SendGrid, ...)
//     whose policy holds the provider's public key, a line saying the
//     delivery must come from the provider, or be signed with the private
//     key by whoever holds it.
//
// Every environment variable the policies reference and the environment
// lacks gets a demo value, printed so the lines work as pasted. A secret
// that must be a well-formed key (a public key, a whsec_ secret) needs a
// real one exported: the demo stops before starting anything, naming the
// variable, when the policies do not load with the demo value. Secret files
// must exist.
//
// Envoy's routes are those of envoy/envoy.yaml.tmpl: /webhooks/github,
// /webhooks/gitlab and /webhooks/partner name the endpoints github, gitlab
// and partner; every other path reaches hookguard unnamed, to be matched
// by the policies' own match rules. An endpoint without a match of its own
// is reachable only through a route that names it, so under other names
// it gets no line.
//
// Everything it writes goes to .demo/ under the repository root.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		listen    = flag.Int("listen", 8443, "Envoy HTTPS port (a free port is used if taken)")
		mtls      = flag.Int("mtls", 8444, "Envoy HTTPS port that requires a client certificate")
		admin     = flag.Int("envoy-admin", 9901, "Envoy admin port")
		grpcPort  = flag.Int("grpc", 9191, "hookguard gRPC port")
		hgAdmin   = flag.Int("hookguard-admin", 9192, "hookguard admin port")
		upstream  = flag.Int("upstream", 8080, "echo upstream port")
		maxBody   = flag.Int("max-request-bytes", stack.DefaultMaxRequestBytes, "ext_authz max_request_bytes")
		policies  = flag.String("policies", "", "policy `directory` to serve, such as policies/providers; the curl lines printed are for its endpoints (default <repo>/policies)")
		verbosity = flag.Bool("v", false, "print start-up progress")
	)
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprint(out, `usage: go run ./cmd/demo [flags]    (or make demo DEMO_FLAGS='[flags]')

Runs Envoy (TLS) -> hookguard -> an echo upstream on this machine and prints
curl lines for each endpoint of the policy directory served: a signed
delivery for schemes hookguard sign can sign, the token for token endpoints,
and for the others (such as asymmetric schemes) a note that the delivery
must come from the provider. Unset secrets get printed demo values; Envoy's
routes are those of envoy/envoy.yaml.tmpl (see "go doc ./cmd/demo").

flags:
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (the policy directory is -policies DIR)", flag.Arg(0))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := stack.RepoRoot()
	if err != nil {
		return err
	}
	demoDir := filepath.Join(root, ".demo")
	if *policies == "" {
		*policies = filepath.Join(root, "policies")
	}
	if *policies, err = filepath.Abs(*policies); err != nil {
		return err
	}
	// Load the policies first, as hookguard will: a directory that does
	// not load stops the demo here, with every problem named.
	secrets := &demoEnv{set: map[string]string{}}
	targets, err := loadTargets(*policies, secrets)
	if err != nil {
		return err
	}
	if _, err := stack.EnvoyBinary(); err != nil {
		return err
	}
	var env []string
	for name, v := range secrets.set {
		env = append(env, name+"="+v)
	}

	// Start from a clean directory so stale certificates or logs from an
	// earlier run cannot be mistaken for this one's.
	for _, sub := range []string{"run", "ca.pem", "server.pem", "server-key.pem"} {
		if err := os.RemoveAll(filepath.Join(demoDir, sub)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(demoDir, 0o755); err != nil {
		return err
	}

	var progress io.Writer = io.Discard
	if *verbosity {
		progress = os.Stderr
	}
	bin := filepath.Join(demoDir, "hookguard")
	fmt.Fprintln(os.Stderr, "demo: building hookguard...")
	if err := stack.BuildHookguard(ctx, bin, progress); err != nil {
		return err
	}

	ports := map[string]*int{"listen": listen, "mtls": mtls, "admin": admin, "grpc": grpcPort, "hookguard admin": hgAdmin, "upstream": upstream}
	for name, p := range ports {
		got, err := stack.PortOrFree(*p)
		if err != nil {
			return err
		}
		if got != *p {
			fmt.Fprintf(os.Stderr, "demo: port %d (%s) is taken, using %d\n", *p, name, got)
		}
		*p = got
	}

	fmt.Fprintln(os.Stderr, "demo: starting upstream, hookguard and Envoy...")
	s, err := stack.Start(ctx, stack.Options{
		Dir:                demoDir,
		PoliciesDir:        *policies,
		HookguardBinary:    bin,
		HookguardEnv:       env,
		MaxRequestBytes:    *maxBody,
		ListenPort:         *listen,
		MTLSPort:           *mtls,
		AdminPort:          *admin,
		GRPCPort:           *grpcPort,
		HookguardAdminPort: *hgAdmin,
		UpstreamPort:       *upstream,
		Log:                progress,
	})
	if err != nil {
		return err
	}
	routes, err := namedRoutes(s.Envoy.ConfigPath)
	if err != nil {
		return err
	}
	printUsage(os.Stdout, demoDir, s, routes, targets, secrets.set)

	// Also stop when Envoy or hookguard dies on its own, so the demo does
	// not sit there answering 503s without saying why.
	select {
	case <-ctx.Done():
	case <-s.Envoy.Done():
		fmt.Fprintf(os.Stderr, "demo: Envoy exited unexpectedly; see %s\n", rel(s.Envoy.LogPath))
	case <-s.Hookguard.Done():
		fmt.Fprintf(os.Stderr, "demo: hookguard exited unexpectedly; see %s\n", rel(s.Hookguard.LogPath))
	}
	stop() // a second Ctrl-C now kills the demo outright
	fmt.Fprintln(os.Stderr, "\ndemo: stopping...")
	if err := s.Stop(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "demo: stopped")
	return nil
}

// rel shows path relative to the working directory when it is below it.
func rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	return relTo(wd, path)
}

// printUsage prints where everything runs and, for each endpoint, a line
// that sends it a delivery; see delivery.
func printUsage(w io.Writer, demoDir string, s *stack.Stack, routes []envoyRoute, targets []target, demoSet map[string]string) {
	site := &demoSite{
		plainPort:  s.Envoy.Config.ListenPort,
		mtlsPort:   s.Envoy.Config.MTLSPort,
		ca:         rel(s.Certs.CA.CertFile),
		clientCert: rel(s.Certs.Client.CertFile),
		clientKey:  rel(s.Certs.Client.KeyFile),
		hookguard:  rel(filepath.Join(demoDir, "hookguard")),
		policies:   rel(s.Hookguard.Config.PoliciesDir),
		routes:     routes,
		demoSet:    demoSet,
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	p("")
	p("hookguard demo is up:")
	p("  Envoy HTTPS   https://localhost:%d   (admin http://127.0.0.1:%d)", site.plainPort, s.Envoy.Config.AdminPort)
	p("  Envoy mTLS    https://localhost:%d   (client certificate from %s required)", site.mtlsPort, site.ca)
	p("  hookguard     grpc %s   admin %s", s.Hookguard.GRPCAddr(), s.Hookguard.AdminURL())
	p("  upstream      http://127.0.0.1:%d (echoes what it receives as JSON)", s.Upstream.Port())
	p("  policies      %s (%d endpoints)", site.policies, len(targets))
	for _, name := range sortedNames(demoSet) {
		p("  demo secret   %s=%s (export your own to override)", name, demoSet[name])
	}
	p("")
	p("Logs:")
	p("  hookguard decisions  %s", rel(s.Hookguard.LogPath))
	p("  Envoy access log     %s", rel(s.Envoy.AccessLogPath))
	p("  Envoy                %s", rel(s.Envoy.LogPath))
	p("")
	p("# The body the lines below send:")
	p("printf '%%s' '%s' > %s", payload, payloadFile)
	writeDeliveries(&b, site, targets, time.Now())
	p("")
	p("# An unknown path (404 no_endpoint), and Envoy's ext_authz counters:")
	p("curl -sS --cacert %s --data-binary @%s https://localhost:%d/nope; echo", site.ca, payloadFile, site.plainPort)
	p("curl -sS 'http://127.0.0.1:%d/stats?filter=ext_authz'", s.Envoy.Config.AdminPort)
	p("")
	p("Ctrl-C stops everything.")
	_, _ = io.WriteString(w, b.String())
}

// writeDeliveries writes each endpoint's lines, and once each the replay,
// the missing signature and the missing client certificate, on the first
// endpoint that shows them.
func writeDeliveries(w io.Writer, site *demoSite, targets []target, now time.Time) {
	var replayShown, unsignedShown, noCertShown bool
	for _, t := range targets {
		d := site.delivery(t, now)
		fmt.Fprintf(w, "\n# %s\n", d.comment)
		for _, l := range d.lines {
			fmt.Fprintln(w, l)
		}
		if d.replay != "" && !replayShown {
			fmt.Fprintf(w, "# The same delivery again (409 replayed):\n%s\n", d.replay)
			replayShown = true
		}
		// A DRY_RUN endpoint lets the request through, and one that
		// requires a client certificate shows its own 401 below.
		if d.unsigned != "" && !unsignedShown && !t.endpoint.DryRun && t.endpoint.Identity == nil {
			fmt.Fprintf(w, "# Without its signature or token (401 signature_missing):\n%s\n", d.unsigned)
			unsignedShown = true
		}
		if d.noCertificate != "" && !noCertShown {
			fmt.Fprintf(w, "# ...and without a client certificate, on the plain listener (401 client_certificate_required):\n%s\n", d.noCertificate)
			noCertShown = true
		}
	}
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
