package stack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// CA is a throwaway certificate authority whose key lives only in memory (and
// in its PEM file in the stack directory); it exists so tests and the demo
// can speak real TLS without touching any system trust store.
type CA struct {
	Cert     *x509.Certificate
	Key      *ecdsa.PrivateKey
	CertPEM  []byte
	CertFile string // PEM, for curl --cacert and friends
	dir      string
}

// Leaf is a certificate issued by a CA, written as PEM files.
type Leaf struct {
	CertFile string
	KeyFile  string
	// TLS holds the same pair ready for tls.Config.Certificates; clients use
	// it when a later test needs mTLS.
	TLS tls.Certificate
}

// LeafOptions describes a leaf certificate. Server and Client choose the
// extended key usages; both may be set.
type LeafOptions struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	URIs       []*url.URL // e.g. a SPIFFE ID for a client principal
	Server     bool
	Client     bool
	Validity   time.Duration // default 24h
}

// Certs is the CA plus the server certificate Envoy presents and a client
// certificate for the mTLS listener.
type Certs struct {
	CA     *CA
	Server *Leaf
	// Client is a client certificate from the same CA, with the SPIFFE ID
	// ClientSPIFFEID as URI SAN and ClientDNSName as DNS SAN.
	Client *Leaf
}

// The identity of Certs.Client, which the example partner policy allows.
const (
	ClientSPIFFEID = "spiffe://hookguard.demo/partner"
	ClientDNSName  = "partner.hookguard.demo"
)

// NewCA creates an ECDSA P-256 CA and writes its certificate to dir/ca.pem.
func NewCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "hookguard e2e CA", Organization: []string{"hookguard test"}},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{
		Cert:     cert,
		Key:      key,
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		CertFile: filepath.Join(dir, "ca.pem"),
		dir:      dir,
	}
	if err := os.WriteFile(ca.CertFile, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// Issue signs a new leaf and writes it to <dir>/<name>.pem and
// <dir>/<name>-key.pem. Each leaf gets its own key so a test can hand one
// out without exposing the others.
func (ca *CA) Issue(name string, opts LeafOptions) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	validity := opts.Validity
	if validity == 0 {
		validity = 24 * time.Hour
	}
	cn := opts.CommonName
	if cn == "" {
		cn = name
	}
	var usages []x509.ExtKeyUsage
	if opts.Server {
		usages = append(usages, x509.ExtKeyUsageServerAuth)
	}
	if opts.Client {
		usages = append(usages, x509.ExtKeyUsageClientAuth)
	}
	if len(usages) == 0 {
		return nil, fmt.Errorf("stack: leaf %q must be a server or a client certificate", name)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPs,
		URIs:         opts.URIs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	leaf := &Leaf{
		CertFile: filepath.Join(ca.dir, name+".pem"),
		KeyFile:  filepath.Join(ca.dir, name+"-key.pem"),
	}
	if err := os.WriteFile(leaf.CertFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	// Envoy only needs to read the key; nobody else should.
	if err := os.WriteFile(leaf.KeyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	leaf.TLS, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return leaf, nil
}

// Pool returns a pool trusting only this CA.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// GenerateCerts creates a CA, a server certificate for localhost, 127.0.0.1
// and ::1, and a client certificate in dir (ca.pem, server.pem,
// server-key.pem, client.pem, client-key.pem).
func GenerateCerts(dir string) (*Certs, error) {
	ca, err := NewCA(dir)
	if err != nil {
		return nil, err
	}
	server, err := ca.Issue("server", LeafOptions{
		CommonName: "localhost",
		DNSNames:   []string{"localhost"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		Server:     true,
	})
	if err != nil {
		return nil, err
	}
	spiffeID, _ := url.Parse(ClientSPIFFEID)
	client, err := ca.Issue("client", LeafOptions{
		CommonName: ClientDNSName,
		DNSNames:   []string{ClientDNSName},
		URIs:       []*url.URL{spiffeID},
		Client:     true,
	})
	if err != nil {
		return nil, err
	}
	return &Certs{CA: ca, Server: server, Client: client}, nil
}

// ClientTLSConfig trusts only the generated CA and expects the server to be
// "localhost", the name tests and the demo's curl lines use.
func (c *Certs) ClientTLSConfig() *tls.Config {
	return &tls.Config{
		RootCAs:    c.CA.Pool(),
		ServerName: "localhost",
		MinVersion: tls.VersionTLS12,
	}
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
