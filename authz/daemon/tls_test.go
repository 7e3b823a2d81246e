package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM pair for a leaf naming uri (if set) and dns, valid
// from notBefore for an hour.
func (ca *testCA) issue(t *testing.T, serial int64, uri string, dns []string, client bool, notBefore time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: notBefore, NotAfter: notBefore.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: dns, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if uri != "" {
		u, _ := url.Parse(uri)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func (ca *testCA) clientCert(t *testing.T, uri string, dns ...string) tls.Certificate {
	t.Helper()
	c, k := ca.issue(t, 99, uri, dns, true, time.Now().Add(-time.Minute))
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsRun is a Run with TLS files laid out as a Kubernetes Secret volume
// does: dir/tls.crt → ..data/tls.crt, dir/..data → a generation directory
// that an update replaces by swapping the ..data symlink.
type tlsRun struct {
	*running
	dir     string
	serverA *testCA // issues the server and the client certificates
	log     *syncBuffer
}

func startTLS(t *testing.T, mutate func(*Config)) *tlsRun {
	t.Helper()
	t.Setenv("HOOKGUARD_SERVER_TEST_SECRET", "s3cret")
	policies := t.TempDir()
	writeFile(t, filepath.Join(policies, "github.yaml"), []byte(policyYAML))
	dir := t.TempDir()
	ca := newTestCA(t, "server and client CA")
	r := &tlsRun{dir: dir, serverA: ca, log: &syncBuffer{}}
	c, k := ca.issue(t, 1, "spiffe://test/hookguard", []string{"hookguard"}, false, time.Now().Add(-time.Minute))
	r.generation(t, "gen1", c, k, ca.pem)
	for _, n := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.Symlink(filepath.Join("..data", n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		PolicyDir: policies,
		Log:       zerolog.New(r.log),
		TLS: &TLSFiles{
			CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
			ClientCAFile: filepath.Join(dir, "ca.crt"),
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r.running = startWith(t, cfg)
	return r
}

// generation writes a generation directory and points ..data at it with an
// atomic rename, as the kubelet does.
func (r *tlsRun) generation(t *testing.T, name string, cert, key, ca []byte) {
	t.Helper()
	gen := filepath.Join(r.dir, name)
	if err := os.Mkdir(gen, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(gen, "tls.crt"), cert)
	writeFile(t, filepath.Join(gen, "tls.key"), key)
	writeFile(t, filepath.Join(gen, "ca.crt"), ca)
	tmp := filepath.Join(r.dir, "..data_tmp")
	if err := os.Symlink(name, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// dial connects with client certificate cert (none if nil), trusting
// roots, and reports the error of one health check.
func (r *tlsRun) healthCheck(t *testing.T, roots *x509.CertPool, cert *tls.Certificate) (*x509.Certificate, error) {
	t.Helper()
	var served *x509.Certificate
	conf := &tls.Config{RootCAs: roots, ServerName: "hookguard",
		VerifyConnection: func(cs tls.ConnectionState) error {
			served = cs.PeerCertificates[0]
			return nil
		}}
	if cert != nil {
		// Sent whatever CAs the server names, as Envoy does; Go's default
		// sends none when the certificate's issuer is not among them.
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	conn, err := grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: AuthorizationService})
	return served, err
}

func pool(cas ...*testCA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.cert)
	}
	return p
}

func TestTLSRequiresTrustedClientWithAllowedIdentity(t *testing.T) {
	r := startTLS(t, func(c *Config) {
		c.GRPCClientIDs = []string{"spiffe://test/ns/gateway/sa/envoy", "envoy.gateway.example"}
	})
	roots := pool(r.serverA)
	other := newTestCA(t, "another CA")
	bySPIFFE := r.serverA.clientCert(t, "spiffe://test/ns/gateway/sa/envoy")
	byDNS := r.serverA.clientCert(t, "", "envoy.gateway.example")
	wrongID := r.serverA.clientCert(t, "spiffe://test/ns/other/sa/envoy", "other.example")
	untrusted := other.clientCert(t, "spiffe://test/ns/gateway/sa/envoy")

	for name, c := range map[string]*tls.Certificate{"spiffe id": &bySPIFFE, "dns name": &byDNS} {
		if _, err := r.healthCheck(t, roots, c); err != nil {
			t.Errorf("%s: allowed client refused: %v", name, err)
		}
	}
	for name, c := range map[string]*tls.Certificate{"wrong id": &wrongID, "untrusted CA": &untrusted, "no certificate": nil} {
		if _, err := r.healthCheck(t, roots, c); err == nil {
			t.Errorf("%s: client accepted", name)
		}
	}
	// A plaintext client gets nothing either.
	conn, err := grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("plaintext client accepted")
	}

	// The server logs a refused handshake on its own goroutine, which may
	// finish after the client has given up.
	wants := []string{"spiffe://test/ns/other/sa/envoy", "unknown authority", "certificate"}
	var logs string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		logs = strings.Join(grepMsgs(r.log, "gRPC client refused: TLS handshake failed"), "\n")
		if !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(logs, w) }) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(logs, want) {
			t.Errorf("refusal log lacks %q:\n%s", want, logs)
		}
	}
}

func grepMsgs(b *syncBuffer, msg string) []string {
	var out []string
	for _, l := range b.lines() {
		if l["message"] == msg {
			out = append(out, l["error"].(string))
		}
	}
	return out
}

func TestTLSFilesReloadAndKeepLastGood(t *testing.T) {
	r := startTLS(t, nil)
	roots := pool(r.serverA)
	client := r.serverA.clientCert(t, "spiffe://test/envoy")
	served := func(c *tls.Certificate) (int64, error) {
		t.Helper()
		cert, err := r.healthCheck(t, roots, c)
		if err != nil {
			return 0, err
		}
		return cert.SerialNumber.Int64(), nil
	}
	waitSerial := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, err := served(&client)
			if err == nil && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("serving serial %d (err %v), want %d", got, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitSerial(1)

	// A Secret volume update: ..data swapped to a new generation.
	c2, k2 := r.serverA.issue(t, 2, "", []string{"hookguard"}, false, time.Now().Add(-time.Minute))
	r.generation(t, "gen2", c2, k2, r.serverA.pem)
	waitSerial(2)

	// In-place writes: the certificate first, then, after the debounce,
	// the key. In between the pair does not match: refused, and the last
	// good pair (serial 2) stays in force.
	gen2 := filepath.Join(r.dir, "gen2")
	c3, k3 := r.serverA.issue(t, 3, "", []string{"hookguard"}, false, time.Now().Add(-time.Minute))
	writeFile(t, filepath.Join(gen2, "tls.crt"), c3)
	waitLog(t, r.log, "TLS files changed but do not load; the previous certificate and CA stay in force", 1)
	if got, err := served(&client); err != nil || got != 2 {
		t.Fatalf("after a mismatched pair: serial %d, err %v; want the last good serial 2", got, err)
	}
	writeFile(t, filepath.Join(gen2, "tls.key"), k3)
	waitSerial(3)

	// An expired certificate is refused too.
	c4, k4 := r.serverA.issue(t, 4, "", []string{"hookguard"}, false, time.Now().Add(-3*time.Hour))
	r.generation(t, "gen3", c4, k4, r.serverA.pem)
	waitLog(t, r.log, "TLS files changed but do not load; the previous certificate and CA stay in force", 2)
	if got, err := served(&client); err != nil || got != 3 {
		t.Fatalf("after an expired certificate: serial %d, err %v; want 3", got, err)
	}

	// The client CA rotates: a bundle of only the new CA refuses clients
	// of the old one and admits those of the new.
	caB := newTestCA(t, "new client CA")
	clientB := caB.clientCert(t, "spiffe://test/envoy")
	c5, k5 := r.serverA.issue(t, 5, "", []string{"hookguard"}, false, time.Now().Add(-time.Minute))
	r.generation(t, "gen4", c5, k5, caB.pem)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := served(&clientB)
		if err == nil && got == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client of the new CA: serial %d, err %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := served(&client); err == nil {
		t.Fatal("a client of the removed CA is still accepted")
	}
}

// waitLog waits until the log holds n lines with message msg.
func waitLog(t *testing.T, b *syncBuffer, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := 0
		for _, l := range b.lines() {
			if l["message"] == msg {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d log lines %q, want %d", got, msg, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHealthListenerAndAdminTLS(t *testing.T) {
	healthAddr := freeAddr(t)
	r := startTLS(t, func(c *Config) {
		c.HealthAddr = healthAddr
		c.AdminTLS = true
		c.AdminClientIDs = []string{"prometheus.monitoring"}
	})
	// The probe listener answers in plaintext, only the health service.
	conn, err := grpc.NewClient(healthAddr, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: AuthorizationService})
	if err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health listener: %v, %v", st, err)
	}
	if err := conn.Invoke(ctx, "/envoy.service.auth.v3.Authorization/Check", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}); err == nil ||
		!strings.Contains(err.Error(), "Unimplemented") {
		t.Fatalf("Check on the health listener: %v, want Unimplemented", err)
	}

	// Admin over TLS: the allowed client reads /readyz, another is refused.
	get := func(c tls.Certificate) (int, error) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool(r.serverA), ServerName: "hookguard", Certificates: []tls.Certificate{c},
		}}}
		resp, err := hc.Get("https://" + r.adminAddr + "/readyz")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(r.serverA.clientCert(t, "", "prometheus.monitoring")); err != nil || code != http.StatusOK {
		t.Fatalf("allowed admin client: %d, %v", code, err)
	}
	if _, err := get(r.serverA.clientCert(t, "", "envoy.gateway")); err == nil {
		t.Fatal("admin client with another identity accepted")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestLinkSettingsThatDoNotGoTogether(t *testing.T) {
	for name, cfg := range map[string]Config{
		"client ids without TLS": {GRPCClientIDs: []string{"spiffe://x/y"}},
		"admin TLS without TLS":  {AdminTLS: true},
		"admin ids without admin TLS": {
			TLS: &TLSFiles{CertFile: "a", KeyFile: "b", ClientCAFile: "c"}, AdminClientIDs: []string{"x"},
		},
		"missing files": {TLS: &TLSFiles{CertFile: "/nonexistent/a", KeyFile: "/nonexistent/b", ClientCAFile: "/nonexistent/c"}},
	} {
		cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		if l, err := openLink(cfg, zerolog.Nop()); err == nil {
			l.close()
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseClientIDs(t *testing.T) {
	got, err := ParseClientIDs([]string{"spiffe://td/ns/a/sa/b, envoy.example", "other.example"})
	if err != nil || strings.Join(got, "|") != "spiffe://td/ns/a/sa/b|envoy.example|other.example" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []string{"spiffe:///nohost", "has space", "a/b"} {
		if _, err := ParseClientIDs([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
