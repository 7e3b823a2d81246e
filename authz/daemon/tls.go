package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/credentials"
)

// TLSFiles names the PEM files of a listener that speaks TLS and requires a
// client certificate. The files are read at start and again whenever they
// change (cert-manager and SPIRE rewrite them in place or swap a symlink, as
// Kubernetes does for Secret volumes), so a rotated certificate or CA is in
// force for the next handshake without a restart. A change that does not
// load (a key that does not match, a half-written file, an expired
// certificate) is refused and logged; the last good set stays in force.
type TLSFiles struct {
	// CertFile is the server certificate chain, leaf first.
	CertFile string
	// KeyFile is the private key of the leaf.
	KeyFile string
	// ClientCAFile holds the CAs that issue client certificates. During a
	// CA rotation it holds the old and the new CA.
	ClientCAFile string
}

// certPollInterval is how often the TLS files are re-read even without a
// change event: file watches miss changes on some file systems (NFS, FUSE)
// and across a replaced parent directory, and three small files a minute
// cost nothing.
const certPollInterval = time.Minute

// certDebounce lets a writer finish both halves of a pair (certificate,
// then key) before they are read: without it most rotations would log a
// mismatched pair first.
const certDebounce = 200 * time.Millisecond

// tlsState is one loaded, consistent set of TLS files.
type tlsState struct {
	cert    tls.Certificate
	clients *x509.CertPool
	digest  [sha256.Size]byte
}

// certStore holds the TLS files in force and reloads them on change.
type certStore struct {
	files TLSFiles
	log   zerolog.Logger
	cur   atomic.Pointer[tlsState]
}

// newCertStore loads files; a set that does not load is an error, as at
// start there is no last good one to keep.
func newCertStore(files TLSFiles, log zerolog.Logger) (*certStore, error) {
	if files.CertFile == "" || files.KeyFile == "" || files.ClientCAFile == "" {
		return nil, errors.New("TLS needs a certificate, its key and a client CA file together")
	}
	s := &certStore{files: files, log: log}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads the files and puts them in force if they form a valid set
// that differs from the one in force. It reports whether anything changed.
func (s *certStore) reload() (bool, error) {
	var contents [3][]byte
	h := sha256.New()
	for i, name := range []string{s.files.CertFile, s.files.KeyFile, s.files.ClientCAFile} {
		b, err := os.ReadFile(name)
		if err != nil {
			return false, err
		}
		contents[i] = b
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var digest [sha256.Size]byte
	h.Sum(digest[:0])
	if cur := s.cur.Load(); cur != nil && cur.digest == digest {
		return false, nil
	}
	cert, err := tls.X509KeyPair(contents[0], contents[1])
	if err != nil {
		return false, fmt.Errorf("%s, %s: %w", s.files.CertFile, s.files.KeyFile, err)
	}
	now := time.Now()
	if leaf := cert.Leaf; now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false, fmt.Errorf("%s: certificate is valid from %s to %s, not now",
			s.files.CertFile, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	clients, err := parseCAs(contents[2])
	if err != nil {
		return false, fmt.Errorf("%s: %w", s.files.ClientCAFile, err)
	}
	s.cur.Store(&tlsState{cert: cert, clients: clients, digest: digest})
	leaf := cert.Leaf
	s.log.Info().Str("cert_file", s.files.CertFile).Str("client_ca_file", s.files.ClientCAFile).
		Str("subject", leaf.Subject.String()).Strs("names", certNames(leaf)).
		Str("serial", leaf.SerialNumber.Text(16)).Time("not_after", leaf.NotAfter).
		Msg("TLS certificate loaded")
	return true, nil
}

// parseCAs reads every CERTIFICATE block of a PEM bundle; a bundle without
// one is an error, since it would refuse every client.
func parseCAs(pemData []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errors.New("no PEM certificate in the client CA file")
	}
	return pool, nil
}

// watch reloads the files when they change, and every certPollInterval regardless,
// until ctx ends. A refused change is logged and the last good set stays.
func (s *certStore) watch(ctx context.Context) {
	events := make(<-chan fsnotify.Event)
	errs := make(<-chan error)
	var w *fsnotify.Watcher
	watched := map[string]bool{}
	// rewatch watches the directories of the files and of what their
	// symlinks point to now: a Secret volume update swaps the ..data
	// symlink next to the names, an in-place write changes the target,
	// and an editor's rename replaces the inode, so a watch on the file
	// itself would miss all three.
	rewatch := func() {
		if w == nil {
			return
		}
		want := map[string]bool{}
		for _, f := range []string{s.files.CertFile, s.files.KeyFile, s.files.ClientCAFile} {
			want[filepath.Dir(f)] = true
			if real, err := filepath.EvalSymlinks(f); err == nil {
				want[filepath.Dir(real)] = true
			}
		}
		for d := range watched {
			if !want[d] {
				_ = w.Remove(d) // may be gone already, with its watch
				delete(watched, d)
			}
		}
		for d := range want {
			if watched[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				s.log.Warn().Err(err).Str("dir", d).Msg("TLS files are not watched here; polling")
				continue
			}
			watched[d] = true
		}
	}
	if nw, err := fsnotify.NewWatcher(); err != nil {
		s.log.Warn().Err(err).Msg("TLS files are not watched; polling only")
	} else {
		w = nw
		defer w.Close()
		events, errs = w.Events, w.Errors
		rewatch()
	}
	poll := time.NewTicker(certPollInterval)
	defer poll.Stop()
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			settle = time.After(certDebounce)
		case err := <-errs:
			s.log.Warn().Err(err).Msg("TLS file watch")
		case <-settle:
			settle = nil
			s.reloadLogged()
			rewatch()
		case <-poll.C:
			s.reloadLogged()
			rewatch()
		}
	}
}

func (s *certStore) reloadLogged() {
	if _, err := s.reload(); err != nil {
		s.log.Error().Err(err).Str("cert_file", s.files.CertFile).Str("client_ca_file", s.files.ClientCAFile).
			Msg("TLS files changed but do not load; the previous certificate and CA stay in force")
	}
}

// serverConfig is the tls.Config of one listener: every handshake gets the
// certificate and client CAs in force at that moment, requires a client
// certificate from those CAs and, when ids is not empty, one naming an
// allowed identity (see matchIdentity). nextProtos is the listener's ALPN.
func (s *certStore) serverConfig(ids []string, nextProtos []string) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: nextProtos}
	// GetConfigForClient rather than GetCertificate alone: the client CA
	// pool must change with the files too, and only a whole config can
	// carry it.
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		st := s.cur.Load()
		return &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   nextProtos,
			Certificates: []tls.Certificate{st.cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    st.clients,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(ids) == 0 {
					return nil
				}
				return matchIdentity(cs.PeerCertificates[0], ids)
			},
		}, nil
	}
	return base
}

// matchIdentity accepts a client certificate that names one of ids. An id
// with a scheme (spiffe://trust-domain/path) must equal one of the
// certificate's URI SANs; any other id must equal one of its DNS SANs. The
// subject's common name is never consulted: it is not an identity any
// modern issuer vouches for.
func matchIdentity(cert *x509.Certificate, ids []string) error {
	for _, id := range ids {
		if strings.Contains(id, "://") {
			for _, u := range cert.URIs {
				if u.String() == id {
					return nil
				}
			}
			continue
		}
		for _, d := range cert.DNSNames {
			if strings.EqualFold(d, id) {
				return nil
			}
		}
	}
	return fmt.Errorf("client certificate names %s, none of the allowed identities %s",
		strings.Join(certNames(cert), ", "), strings.Join(ids, ", "))
}

// certNames lists a certificate's URI and DNS SANs, for logs and errors.
func certNames(cert *x509.Certificate) []string {
	names := make([]string, 0, len(cert.URIs)+len(cert.DNSNames))
	for _, u := range cert.URIs {
		names = append(names, u.String())
	}
	names = append(names, cert.DNSNames...)
	if len(names) == 0 {
		names = append(names, "no SAN")
	}
	return names
}

// ParseClientIDs splits the values of a repeatable --grpc-client-id flag,
// each of which may be a comma-separated list, and checks every id: a URI
// (a SPIFFE ID) must parse and have a host, a DNS name must not be empty or
// hold spaces.
func ParseClientIDs(values []string) ([]string, error) {
	var ids []string
	for _, v := range values {
		for _, id := range strings.Split(v, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			if strings.Contains(id, "://") {
				u, err := url.Parse(id)
				if err != nil || u.Host == "" {
					return nil, fmt.Errorf("client id %q: not a URI with a host such as spiffe://example.org/ns/gateway/sa/envoy", id)
				}
			} else if strings.ContainsAny(id, " \t/") {
				return nil, fmt.Errorf("client id %q: neither a URI (spiffe://...) nor a DNS name", id)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// loggedCreds logs every refused TLS handshake on the gRPC listener: grpc-go
// drops them silently, and a refused client (an untrusted or wrong
// certificate, or no TLS at all) is exactly what an operator must see.
type loggedCreds struct {
	credentials.TransportCredentials
	log zerolog.Logger
}

// ServerHandshake performs the handshake and logs its failure.
func (c loggedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.log.Warn().Str("peer", conn.RemoteAddr().String()).Err(err).Msg("gRPC client refused: TLS handshake failed")
	}
	return out, info, err
}

// Clone keeps the logging.
func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}
