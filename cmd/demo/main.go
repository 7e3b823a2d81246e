// Command demo runs hookguard behind a real Envoy on this machine, for
// `make demo`: a throwaway CA and TLS certificate, an echo upstream, the
// repository's policies/ and ready-to-paste curl lines. Ctrl-C stops it all.
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
	"strings"
	"syscall"

	"github.com/hookguard/hookguard/e2e/stack"
)

// Demo secrets, used only when the environment does not already hold real
// ones; printed on purpose so the curl lines work as pasted.
var demoSecrets = []struct{ name, value string }{
	{"GITHUB_WEBHOOK_SECRET", "demo-github-secret"},
	{"GITLAB_WEBHOOK_TOKEN", "demo-gitlab-token"},
	{"PARTNER_WEBHOOK_TOKEN", "demo-partner-token"},
}

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
		policies  = flag.String("policies", "", "policy directory (default <repo>/policies)")
		verbosity = flag.Bool("v", false, "print start-up progress")
	)
	flag.Parse()

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
	if entries, err := os.ReadDir(*policies); err != nil || len(entries) == 0 {
		return fmt.Errorf("no policies in %s: the demo serves the repository's policies/ (github.yaml, gitlab.yaml)", *policies)
	}
	if _, err := stack.EnvoyBinary(); err != nil {
		return err
	}

	var env []string
	setByDemo := map[string]string{}
	for _, s := range demoSecrets {
		if os.Getenv(s.name) == "" {
			env = append(env, s.name+"="+s.value)
			setByDemo[s.name] = s.value
		}
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
	printUsage(os.Stdout, demoDir, s, setByDemo)

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

// rel shows path relative to the working directory when it is below it, so
// the printed lines stay short when run from the repository root (make demo)
// and still work from anywhere else.
func rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	r, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(r, "..") {
		return path
	}
	return "./" + r
}

// printUsage prints copy-paste lines that work as printed: secrets the demo
// invented are spelled out, the user's own are referenced from their shell.
func printUsage(w io.Writer, demoDir string, s *stack.Stack, setByDemo map[string]string) {
	ca := rel(s.Certs.CA.CertFile)
	hg := rel(filepath.Join(demoDir, "hookguard"))
	url := func(p string) string { return fmt.Sprintf("https://localhost:%d%s", s.Envoy.Config.ListenPort, p) }
	prefix := func(name string) string {
		if v, ok := setByDemo[name]; ok {
			return name + "=" + v + " "
		}
		return "" // the user's own secret is already in their environment
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	p("")
	p("hookguard demo is up:")
	p("  Envoy HTTPS   https://localhost:%d   (admin http://127.0.0.1:%d)", s.Envoy.Config.ListenPort, s.Envoy.Config.AdminPort)
	p("  Envoy mTLS    https://localhost:%d   (client certificate from %s required)", s.Envoy.Config.MTLSPort, ca)
	p("  hookguard     grpc %s   admin %s", s.Hookguard.GRPCAddr(), s.Hookguard.AdminURL())
	p("  upstream      http://127.0.0.1:%d (echoes what it receives as JSON)", s.Upstream.Port())
	p("  policies      %s", rel(s.Hookguard.Config.PoliciesDir))
	for _, d := range demoSecrets {
		if v, ok := setByDemo[d.name]; ok {
			p("  demo secret   %s=%s (export your own to override)", d.name, v)
		}
	}
	p("")
	p("Logs:")
	p("  hookguard decisions  %s", rel(s.Hookguard.LogPath))
	p("  Envoy access log     %s", rel(s.Envoy.AccessLogPath))
	p("  Envoy                %s", rel(s.Envoy.LogPath))
	p("")
	p("# A signed GitHub delivery (200, echoed by the upstream):")
	p("printf '%%s' '{\"zen\":\"hi\"}' > /tmp/payload.json")
	p("%s%s sign --scheme github --secret-env GITHUB_WEBHOOK_SECRET --body-file /tmp/payload.json > /tmp/hookguard-headers.txt && curl -sS --cacert %s -H @/tmp/hookguard-headers.txt -H 'Content-Type: application/json' --data-binary @/tmp/payload.json %s; echo",
		prefix("GITHUB_WEBHOOK_SECRET"), hg, ca, url("/webhooks/github"))
	p("")
	p("# The same delivery again (409 replayed):")
	p("curl -sS --cacert %s -H @/tmp/hookguard-headers.txt -H 'Content-Type: application/json' --data-binary @/tmp/payload.json %s; echo",
		ca, url("/webhooks/github"))
	p("")
	p("# A forged signature (401 signature_invalid):")
	p("curl -sS --cacert %s -H 'X-GitHub-Event: push' -H \"X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)\" -H 'X-Hub-Signature-256: sha256=%s' -H 'Content-Type: application/json' --data-binary @/tmp/payload.json %s; echo",
		ca, strings.Repeat("0", 64), url("/webhooks/github"))
	p("")
	p("# A GitLab delivery with its token (200; the token is not forwarded):")
	token := "$GITLAB_WEBHOOK_TOKEN"
	if v, ok := setByDemo["GITLAB_WEBHOOK_TOKEN"]; ok {
		token = v
	}
	p("curl -sS --cacert %s -H 'X-Gitlab-Event: Push Hook' -H \"X-Gitlab-Token: %s\" -H \"X-Gitlab-Event-UUID: $(cat /proc/sys/kernel/random/uuid)\" -H 'Content-Type: application/json' --data-binary @/tmp/payload.json %s; echo",
		ca, token, url("/webhooks/gitlab"))
	p("")
	p("# A partner delivery over mTLS with the demo client certificate (200):")
	partner := "$PARTNER_WEBHOOK_TOKEN"
	if v, ok := setByDemo["PARTNER_WEBHOOK_TOKEN"]; ok {
		partner = v
	}
	mtlsURL := fmt.Sprintf("https://localhost:%d/webhooks/partner", s.Envoy.Config.MTLSPort)
	p("curl -sS --cacert %s --cert %s --key %s -H \"Authorization: Bearer %s\" -H 'Content-Type: application/json' --data-binary @/tmp/payload.json %s; echo",
		ca, rel(s.Certs.Client.CertFile), rel(s.Certs.Client.KeyFile), partner, mtlsURL)
	p("# ...and without a certificate, on the plain listener (401 client_certificate_required):")
	p("curl -sS --cacert %s -H \"Authorization: Bearer %s\" --data-binary @/tmp/payload.json %s; echo", ca, partner, url("/webhooks/partner"))
	p("")
	p("# An unknown path (404 no_endpoint), and Envoy's ext_authz counters:")
	p("curl -sS --cacert %s --data-binary @/tmp/payload.json %s; echo", ca, url("/nope"))
	p("curl -sS 'http://127.0.0.1:%d/stats?filter=ext_authz'", s.Envoy.Config.AdminPort)
	p("")
	p("Ctrl-C stops everything.")
	_, _ = io.WriteString(w, b.String())
}
