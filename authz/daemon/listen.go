package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// Default listen addresses: loopback, so a hookguard started without flags
// is reachable from nowhere else. Whoever can call Check is believed about
// the source address, the client principal and the body, so every
// deployment states the address it needs (and, off loopback, TLS with
// client certificates or a mesh that provides them).
const (
	DefaultGRPCAddr  = "127.0.0.1:9191"
	DefaultAdminAddr = "127.0.0.1:9192"
)

// DefaultSocketMode is the permission of a unix socket listener: the owner
// and the group may connect (Envoy in the same pod runs with a shared group,
// e.g. the pod's fsGroup), nobody else. Connecting needs write permission on
// the socket, and search permission on every directory above it.
const DefaultSocketMode fs.FileMode = 0o660

// unixScheme prefixes a unix socket address, as in gRPC target names:
// unix:///run/hookguard/authz.sock (absolute) or unix:authz.sock (relative).
const unixScheme = "unix:"

// link is the transport side of Run: the listeners and what the gRPC and
// admin servers need to speak TLS on them.
type link struct {
	grpc, admin net.Listener
	// health is nil unless Config.HealthAddr is set.
	health net.Listener
	// grpcOpts carries the TLS credentials and connection age.
	grpcOpts []grpc.ServerOption
	// certs is nil without TLS; Run keeps it watching its files.
	certs *certStore
}

// openLink checks the transport settings of cfg and opens its listeners.
// On error nothing stays open.
func openLink(cfg Config, log zerolog.Logger) (l *link, err error) {
	if cfg.TLS == nil && (len(cfg.GRPCClientIDs) > 0 || cfg.AdminTLS || len(cfg.AdminClientIDs) > 0) {
		return nil, errors.New("client identities and admin TLS need the TLS files (--grpc-tls-cert, --grpc-tls-key, --grpc-client-ca)")
	}
	if !cfg.AdminTLS && len(cfg.AdminClientIDs) > 0 {
		return nil, errors.New("admin client identities need admin TLS (--admin-tls)")
	}
	l = &link{}
	defer func() {
		if err != nil {
			l.close()
			l = nil
		}
	}()
	if cfg.TLS != nil {
		if l.certs, err = newCertStore(*cfg.TLS, log); err != nil {
			return l, fmt.Errorf("gRPC TLS: %w", err)
		}
		creds := credentials.NewTLS(l.certs.serverConfig(cfg.GRPCClientIDs, []string{"h2"}))
		l.grpcOpts = append(l.grpcOpts, grpc.Creds(loggedCreds{TransportCredentials: creds, log: log}))
	}
	if cfg.GRPCMaxConnectionAge > 0 {
		// Clients reconnect that often: a new handshake picks up a rotated
		// certificate, and a client pinned to one replica behind a
		// Service address spreads out again.
		l.grpcOpts = append(l.grpcOpts, grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      cfg.GRPCMaxConnectionAge,
			MaxConnectionAgeGrace: 10 * time.Second,
		}))
	}
	mode := cfg.SocketMode
	if mode == 0 {
		mode = DefaultSocketMode
	}
	if l.grpc, err = listen(cfg.GRPCAddr, mode); err != nil {
		return l, fmt.Errorf("gRPC listener: %w", err)
	}
	if l.admin, err = listen(cfg.AdminAddr, mode); err != nil {
		return l, fmt.Errorf("admin listener: %w", err)
	}
	if cfg.AdminTLS {
		l.admin = tls.NewListener(l.admin, l.certs.serverConfig(cfg.AdminClientIDs, []string{"http/1.1"}))
	}
	if cfg.HealthAddr != "" {
		if l.health, err = listen(cfg.HealthAddr, mode); err != nil {
			return l, fmt.Errorf("health listener: %w", err)
		}
	}
	if cfg.TLS == nil && !isLocal(l.grpc.Addr()) {
		log.Warn().Str("grpc_addr", l.grpc.Addr().String()).
			Msg("gRPC listens beyond loopback without TLS: whoever can connect is believed about source, principal and body; use TLS with client certificates unless a mesh sidecar provides mTLS")
	}
	return l, nil
}

func (l *link) close() {
	for _, lis := range []net.Listener{l.grpc, l.admin, l.health} {
		if lis != nil {
			lis.Close()
		}
	}
}

// serveHealth serves only the gRPC health service on lis, in plaintext.
// Kubernetes' gRPC probes speak neither TLS nor mTLS, so they cannot reach
// the health service on a TLS gRPC port; this listener answers them and
// nothing else (serving status reveals nothing a probe may not know).
// The returned function stops it.
func serveHealth(lis net.Listener, hs *health.Server) (stop func()) {
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go gs.Serve(lis)
	return gs.Stop
}

// isLocal reports whether addr is a loopback TCP address or a unix socket.
func isLocal(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// listen opens a TCP address (host:port) or a unix socket (unix:PATH, see
// unixScheme) with permission mode.
func listen(addr string, mode fs.FileMode) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, unixScheme)
	if !ok {
		return net.Listen("tcp", addr)
	}
	if rest, ok := strings.CutPrefix(path, "//"); ok {
		if !strings.HasPrefix(rest, "/") {
			return nil, fmt.Errorf("%s: a unix socket URL names an absolute path, unix:///run/hookguard/authz.sock, or a relative one, unix:authz.sock", addr)
		}
		path = rest
	}
	if path == "" {
		return nil, fmt.Errorf("%s: no socket path", addr)
	}
	return listenUnix(path, mode)
}

// listenUnix creates the socket at path. A socket file left by a process
// that died is removed first; a live one (something accepts on it) or a
// file that is not a socket is an error, never removed. The directory must
// exist: its permissions are the deployment's to choose, and they gate the
// socket too (keep it 0750 or tighter).
func listenUnix(path string, mode fs.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; not removing it", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process is serving on this socket", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: cannot tell whether the existing socket is in use: %w", path, err)
		}
		// Nobody accepts on it: a socket left by a process that died.
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// Set explicitly rather than through the umask, which is process-wide
	// and would race with every other file this process creates. Until this
	// returns, the directory's permissions are what guard the socket.
	if err := os.Chmod(path, mode); err != nil {
		lis.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return lis, nil
}
