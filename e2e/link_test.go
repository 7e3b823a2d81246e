package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

// The identities the shipped configs and manifests name: hookguard's
// server certificate (front-proxy.yaml checks this DNS SAN) and the gateway
// Envoy's client certificate (the manifests' --grpc-client-id).
const (
	hookguardDNS = "hookguard.hookguard.svc"
	gatewayID    = "spiffe://cluster.local/ns/gateway/sa/envoy"
)

// linkPKI is the certificates of one test: the CA that issues the Envoy
// listener's certificate (clients trust it), and the link CA that issues
// hookguard's server certificate and Envoy's client certificate.
type linkPKI struct {
	edge *stack.Certs
	link *stack.CA
	dir  string
}

func newLinkPKI(t *testing.T) *linkPKI {
	t.Helper()
	dir := t.TempDir()
	edge, err := stack.GenerateCerts(filepath.Join(dir, "edge"))
	if err != nil {
		t.Fatal(err)
	}
	link, err := stack.NewCA(filepath.Join(dir, "link"))
	if err != nil {
		t.Fatal(err)
	}
	return &linkPKI{edge: edge, link: link, dir: dir}
}

// leaf issues a certificate from ca as name.
func leaf(t *testing.T, ca *stack.CA, name string, opts stack.LeafOptions) *stack.Leaf {
	t.Helper()
	l, err := ca.Issue(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func uri(t *testing.T, s string) []*url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return []*url.URL{u}
}

// install copies a certificate and key to dir/tls.crt and dir/tls.key, and
// the PEM CAs to dir/ca.crt, the layout of a Kubernetes TLS Secret.
func install(t *testing.T, dir string, l *stack.Leaf, cas ...[]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, l.CertFile, filepath.Join(dir, "tls.crt"))
	copyFile(t, l.KeyFile, filepath.Join(dir, "tls.key"))
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), bytes.Join(cas, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// frontProxyFiles lays out what envoy/front-proxy.yaml reads under
// /etc/envoy/ in root: the edge certificate, the sender CA and the client
// certificate towards hookguard (client) with the CAs hookguard's
// certificate may come from.
func (p *linkPKI) frontProxyFiles(t *testing.T, root string, client *stack.Leaf, hookguardCAs ...[]byte) {
	t.Helper()
	install(t, filepath.Join(root, "tls"), p.edge.Server)
	senderCA := filepath.Join(root, "sender-ca")
	if err := os.MkdirAll(senderCA, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(senderCA, "ca.crt"), p.edge.CA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	install(t, filepath.Join(root, "hookguard-client"), client, hookguardCAs...)
}

// startFrontProxy runs envoy/front-proxy.yaml as shipped, with its paths
// under root and its addresses on loopback, in front of hookguard h.
func startFrontProxy(t *testing.T, name, root string, h *stack.Hookguard, upstream int) *stack.Envoy {
	t.Helper()
	src, err := stack.ShippedEnvoyConfig("front-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listen, admin := freePort(t), freePort(t)
	conf, err := stack.LocalizeEnvoyConfig(src, stack.Localize{
		Paths: map[string]string{"/etc/envoy/": root},
		Hosts: map[string]string{"0.0.0.0": "127.0.0.1", "hookguard-pods.hookguard.svc.cluster.local": "127.0.0.1", "app": "127.0.0.1"},
		Ports: map[int]int{8443: listen, 9901: admin, 9191: h.Config.GRPCPort, 8080: upstream},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := stack.StartEnvoyConfig(context.Background(), filepath.Join(t.TempDir(), name), conf,
		stack.EnvoyConfig{ListenPort: listen, AdminPort: admin, AuthzAddr: "127.0.0.1", AuthzPort: h.Config.GRPCPort}, stack.EnvoyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s envoy log ---\n%s", name, tailFile(e.LogPath, 2000))
		}
		e.Stop()
	})
	return e
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// startLinkHookguard runs hookguard with the policies of the shared stack
// and extra flags, its log kept for failing tests.
func startLinkHookguard(t *testing.T, args ...string) *stack.Hookguard {
	t.Helper()
	dir := t.TempDir()
	h, err := stack.StartHookguard(context.Background(), dir, stack.HookguardConfig{
		Binary:      hookguardBinary(t),
		PoliciesDir: writePolicies(t, filepath.Join(dir, "policies")),
		Env:         secretEnv(),
		ExtraArgs:   args,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- hookguard log ---\n%s", tailFile(h.LogPath, 4000))
		}
		h.Stop()
	})
	return h
}

func startUpstream(t *testing.T) *stack.Upstream {
	t.Helper()
	u, err := stack.StartUpstream(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// postGitHub sends one GitHub delivery, signed with secret, through the
// HTTPS client c.
func postGitHub(c *http.Client, url, secret string) (int, error) {
	body := []byte(fmt.Sprintf(`{"delivery":%q}`, newUUID()))
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = githubHeaders(secret, body, newUUID())
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// refusals returns the errors of hookguard's refused TLS handshakes.
func refusals(t *testing.T, h *stack.Hookguard) string {
	t.Helper()
	lines, err := h.LogLines()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range lines {
		if l["message"] == "gRPC client refused: TLS handshake failed" {
			out = append(out, fmt.Sprint(l["error"]))
		}
	}
	return strings.Join(out, "\n")
}

// Envoy reaches hookguard over mTLS with envoy/front-proxy.yaml. hookguard
// requires a certificate from the link CA naming the gateway's SPIFFE ID:
// an Envoy with a certificate from another CA, or from the link CA with
// another SPIFFE ID, is refused at the handshake, and those Envoys answer
// 503 (fail closed) while nothing reaches the application.
func TestEnvoyToHookguardOverMTLS(t *testing.T) {
	requireEnvoy(t)
	p := newLinkPKI(t)
	server := leaf(t, p.link, "hookguard", stack.LeafOptions{DNSNames: []string{hookguardDNS}, Server: true})
	hgTLS := filepath.Join(p.dir, "hookguard-tls")
	install(t, hgTLS, server, p.link.CertPEM)
	h := startLinkHookguard(t,
		"--grpc-tls-cert", filepath.Join(hgTLS, "tls.crt"),
		"--grpc-tls-key", filepath.Join(hgTLS, "tls.key"),
		"--grpc-client-ca", filepath.Join(hgTLS, "ca.crt"),
		"--grpc-client-id", gatewayID)
	up := startUpstream(t)

	other, err := stack.NewCA(filepath.Join(p.dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*stack.Leaf{
		"trusted":      leaf(t, p.link, "envoy", stack.LeafOptions{URIs: uri(t, gatewayID), Client: true}),
		"untrusted-ca": leaf(t, other, "envoy", stack.LeafOptions{URIs: uri(t, gatewayID), Client: true}),
		"wrong-id":     leaf(t, p.link, "intruder", stack.LeafOptions{URIs: uri(t, "spiffe://cluster.local/ns/default/sa/intruder"), Client: true}),
	}
	envoys := map[string]*stack.Envoy{}
	for name, c := range clients {
		root := filepath.Join(p.dir, name)
		p.frontProxyFiles(t, root, c, p.link.CertPEM)
		envoys[name] = startFrontProxy(t, name, root, h, up.Port())
	}
	if err := envoys["trusted"].WaitHookguardHealthy(context.Background(), 15*time.Second); err != nil {
		t.Fatal(err)
	}
	client := func(e *stack.Envoy) *http.Client {
		return stack.NewClient(p.edge.ClientTLSConfig(), e.Config.ListenPort, true)
	}

	good := envoys["trusted"]
	if code, err := postGitHub(client(good), good.URL("/webhooks/github"), githubSecret); err != nil || code != http.StatusOK {
		t.Fatalf("signed delivery over the mTLS link: %d, %v; want 200", code, err)
	}
	if code, err := postGitHub(client(good), good.URL("/webhooks/github"), "forged"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("forged delivery over the mTLS link: %d, %v; want 401", code, err)
	}
	if n := len(up.Requests()); n != 1 {
		t.Fatalf("upstream got %d requests, want the 1 verified", n)
	}

	for name, want := range map[string]string{
		"untrusted-ca": "certificate signed by unknown authority",
		"wrong-id":     "spiffe://cluster.local/ns/default/sa/intruder, none of the allowed identities " + gatewayID,
	} {
		e := envoys[name]
		if code, err := postGitHub(client(e), e.URL("/webhooks/github"), githubSecret); err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("%s: signed delivery answered %d, %v; want 503", name, code, err)
		}
		if !eventually(5*time.Second, func() bool { return strings.Contains(refusals(t, h), want) }) {
			t.Errorf("%s: hookguard logged no refusal with %q; refusals:\n%s", name, want, refusals(t, h))
		}
		if n, _ := e.Counter("http.webhooks.ext_authz.ok"); n != 0 {
			t.Errorf("%s: ext_authz.ok = %d, want 0", name, n)
		}
	}
	if n := len(up.Requests()); n != 1 {
		t.Errorf("upstream got %d requests; refused links must let none through", n)
	}
}

// Envoy reaches hookguard over a unix socket with envoy/sidecar.yaml.
func TestEnvoyToHookguardOverUnixSocket(t *testing.T) {
	requireEnvoy(t)
	// sun_path holds 108 bytes; t.TempDir's names can be longer.
	sockDir, err := os.MkdirTemp("", "hg-sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "authz.sock")
	h := startLinkHookguard(t, "--grpc-addr", "unix://"+sock, "--socket-mode", "0660")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket: %v, %v; want a socket with mode 0660", fi, err)
	}
	up := startUpstream(t)

	src, err := stack.ShippedEnvoyConfig("sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listen, admin := freePort(t), freePort(t)
	conf, err := stack.LocalizeEnvoyConfig(src, stack.Localize{
		Paths: map[string]string{"/run/hookguard/": sockDir},
		Hosts: map[string]string{"0.0.0.0": "127.0.0.1"},
		Ports: map[int]int{8080: listen, 9901: admin, 3000: up.Port()},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := stack.StartEnvoyConfig(context.Background(), filepath.Join(t.TempDir(), "envoy"), conf,
		stack.EnvoyConfig{ListenPort: listen, AdminPort: admin, AuthzHost: sock}, stack.EnvoyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- envoy log ---\n%s", tailFile(e.LogPath, 2000))
		}
		e.Stop()
	})
	if err := e.WaitHookguardHealthy(context.Background(), 15*time.Second); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 15 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d", listen)
	if code, err := postGitHub(c, base+"/webhooks/github", githubSecret); err != nil || code != http.StatusOK {
		t.Fatalf("signed delivery over the socket: %d, %v; want 200", code, err)
	}
	if code, err := postGitHub(c, base+"/webhooks/github", "forged"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("forged delivery over the socket: %d, %v; want 401", code, err)
	}
	if n := len(up.Requests()); n != 1 {
		t.Fatalf("upstream got %d requests, want 1", n)
	}
	// Decision lines are written in batches, a few milliseconds after the
	// answer.
	var decisions []map[string]any
	eventually(5*time.Second, func() bool {
		decisions, err = h.Decisions()
		return err != nil || len(decisions) >= 2
	})
	if err != nil || len(decisions) != 2 {
		t.Fatalf("hookguard logged %d decisions (%v), want 2: the checks came over the socket", len(decisions), err)
	}
}

// secretDir is a directory laid out as the kubelet lays out a Secret
// volume: tls.crt → ..data/tls.crt, ..data → a generation directory, and an
// update writes a new generation and renames a new ..data over the old.
type secretDir struct {
	dir string
	gen int
}

func (s *secretDir) update(t *testing.T, l *stack.Leaf, cas ...[]byte) {
	t.Helper()
	s.gen++
	name := fmt.Sprintf("..gen%d", s.gen)
	install(t, filepath.Join(s.dir, name), l, cas...)
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(name, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if s.gen == 1 {
		for _, f := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if err := os.Symlink(filepath.Join("..data", f), filepath.Join(s.dir, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// hookguard's certificate and CA rotate on disk while deliveries flow
// through Envoy: first a new server certificate, then a CA rotation (the
// server certificate from a new CA that Envoy was told to trust ahead of
// time, the client CA bundle holding old and new). Envoy reconnects every
// second (--grpc-max-connection-age), so new handshakes meet the new files
// while traffic continues; no delivery may fail.
func TestCertificateRotationUnderTraffic(t *testing.T) {
	requireEnvoy(t)
	p := newLinkPKI(t)
	caB, err := stack.NewCA(filepath.Join(p.dir, "link-b"))
	if err != nil {
		t.Fatal(err)
	}
	sd := &secretDir{dir: filepath.Join(p.dir, "hookguard-tls")}
	if err := os.MkdirAll(sd.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	serverOpts := stack.LeafOptions{DNSNames: []string{hookguardDNS}, Server: true}
	first := leaf(t, p.link, "hookguard-1", serverOpts)
	sd.update(t, first, p.link.CertPEM)
	h := startLinkHookguard(t,
		"--grpc-tls-cert", filepath.Join(sd.dir, "tls.crt"),
		"--grpc-tls-key", filepath.Join(sd.dir, "tls.key"),
		"--grpc-client-ca", filepath.Join(sd.dir, "ca.crt"),
		"--grpc-client-id", gatewayID,
		"--grpc-max-connection-age", "1s")
	up := startUpstream(t)
	root := filepath.Join(p.dir, "envoy")
	envoyClient := leaf(t, p.link, "envoy", stack.LeafOptions{URIs: uri(t, gatewayID), Client: true})
	// Envoy trusts the current and the next CA of hookguard's certificate.
	p.frontProxyFiles(t, root, envoyClient, p.link.CertPEM, caB.CertPEM)
	e := startFrontProxy(t, "envoy", root, h, up.Port())
	if err := e.WaitHookguardHealthy(context.Background(), 15*time.Second); err != nil {
		t.Fatal(err)
	}
	cxBefore, err := e.Counter("cluster.hookguard.upstream_cx_total")
	if err != nil {
		t.Fatal(err)
	}

	// Bounded traffic: two senders, for at most 9 s or 10000 deliveries.
	const workers, maxRequests = 2, 10000
	var sent, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := stack.NewClient(p.edge.ClientTLSConfig(), e.Config.ListenPort, true)
			defer c.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if sent.Add(1) > maxRequests {
					sent.Add(-1)
					return
				}
				code, err := postGitHub(c, e.URL("/webhooks/github"), githubSecret)
				if err != nil || code != http.StatusOK {
					failed.Add(1)
					failMu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %d %v", time.Now().Format("15:04:05.000"), code, err))
					failMu.Unlock()
				}
			}
		}()
	}
	deadline := time.After(9 * time.Second)
	time.Sleep(2 * time.Second)
	second := leaf(t, p.link, "hookguard-2", serverOpts)
	sd.update(t, second, p.link.CertPEM)
	time.Sleep(3 * time.Second)
	third := leaf(t, caB, "hookguard-3", serverOpts)
	sd.update(t, third, p.link.CertPEM, caB.CertPEM)
	atLast := sent.Load()
	<-deadline
	close(stop)
	wg.Wait()

	t.Logf("certificate rotation under traffic: %d requests, %d failed (%d after the last rotation)",
		sent.Load(), failed.Load(), sent.Load()-atLast)
	if sent.Load()-atLast < 100 {
		t.Errorf("only %d deliveries after the last rotation", sent.Load()-atLast)
	}
	if failed.Load() != 0 {
		t.Errorf("%d of %d deliveries failed during the rotation:\n%s", failed.Load(), sent.Load(), strings.Join(failures[:min(len(failures), 20)], "\n"))
	}
	if sent.Load() < 100 {
		t.Errorf("only %d deliveries in 9 s: too little traffic to say anything", sent.Load())
	}
	// The rotations were really used: hookguard loaded three certificates,
	// Envoy opened new connections after them, and a fresh handshake now
	// meets the third certificate, from the new CA.
	loads := 0
	lines, _ := h.LogLines()
	for _, l := range lines {
		if l["message"] == "TLS certificate loaded" {
			loads++
		}
	}
	if loads != 3 {
		t.Errorf("hookguard logged %d certificate loads, want 3 (start and two rotations)", loads)
	}
	cxAfter, _ := e.Counter("cluster.hookguard.upstream_cx_total")
	if cxAfter-cxBefore < 4 {
		t.Errorf("Envoy opened %d connections to hookguard during the rotations; the new certificates were not exercised", cxAfter-cxBefore)
	}
	served := handshakeLeaf(t, h, p, envoyClient, caB)
	if served.SerialNumber.Cmp(mustParse(t, third.CertFile).SerialNumber) != 0 {
		t.Errorf("hookguard serves serial %s, want the third certificate's", served.SerialNumber)
	}
	if n := len(up.Requests()); int64(n) != sent.Load() {
		t.Errorf("upstream got %d deliveries, Envoy was sent %d", n, sent.Load())
	}
}

// handshakeLeaf does one TLS handshake with hookguard as Envoy would and
// returns the certificate hookguard presented.
func handshakeLeaf(t *testing.T, h *stack.Hookguard, p *linkPKI, client *stack.Leaf, cas ...*stack.CA) *x509.Certificate {
	t.Helper()
	roots := p.link.Pool()
	for _, ca := range cas {
		roots.AddCert(ca.Cert)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.GRPCAddr(), &tls.Config{
		RootCAs: roots, ServerName: hookguardDNS, NextProtos: []string{"h2"},
		Certificates: []tls.Certificate{client.TLS},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func mustParse(t *testing.T, certFile string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, strings.TrimSuffix(certFile, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf
}
