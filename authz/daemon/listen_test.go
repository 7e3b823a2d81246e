package daemon

import (
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// shortTempDir keeps socket paths under the 108-byte sun_path limit, which
// t.TempDir's long names can exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestServeOnUnixSocket(t *testing.T) {
	t.Setenv("HOOKGUARD_SERVER_TEST_SECRET", "s3cret")
	policies := t.TempDir()
	writeFile(t, filepath.Join(policies, "github.yaml"), []byte(policyYAML))
	sock := filepath.Join(shortTempDir(t), "authz.sock")

	// A socket left by a process that died: nobody accepts on it.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan net.Addr, 1)
	go func() {
		done <- Run(ctx, Config{
			PolicyDir: policies, GRPCAddr: "unix://" + sock, AdminAddr: "127.0.0.1:0",
			SocketMode: 0o600, Log: zerolog.Nop(),
			Ready: func(g, _ net.Addr) { ready <- g },
		})
	}()
	select {
	case addr := <-ready:
		if addr.String() != sock {
			t.Fatalf("bound %s, want %s", addr, sock)
		}
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not serving")
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("socket %v, %v; want a socket with mode 0600", fi.Mode(), err)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if resp := check(t, conn, []byte(`{"over":"unix"}`)); resp.GetOkResponse() == nil {
		t.Fatalf("valid delivery over the socket denied: %v", resp)
	}
	st, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: AuthorizationService})
	if err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over the socket: %v, %v", st, err)
	}

	// A second server must not take over a live socket.
	if _, err := listen("unix://"+sock, 0o600); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("live socket: %v, want a refusal", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind after stop: %v", err)
	}
}

func TestListenUnixRefusesWhatIsNotAStaleSocket(t *testing.T) {
	dir := shortTempDir(t)
	file := filepath.Join(dir, "not-a-socket")
	writeFile(t, file, []byte("keep me"))
	if _, err := listen("unix://"+file, 0o660); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("the regular file was touched")
	}
	for _, addr := range []string{"unix://relative.sock", "unix:", "unix://" + filepath.Join(dir, "missing", "x.sock")} {
		if l, err := listen(addr, 0o660); err == nil {
			l.Close()
			t.Errorf("%s accepted", addr)
		}
	}
	// unix:NAME is relative to the working directory.
	t.Chdir(dir)
	l, err := listen("unix:rel.sock", 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, err := os.Stat(filepath.Join(dir, "rel.sock")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("relative socket: %v, %v", fi, err)
	}
}
