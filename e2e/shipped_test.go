package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

// Every Envoy config the project ships passes `envoy --mode validate` with
// the real binary, with the certificates it names generated here and its
// paths moved under a temporary directory.
func TestShippedEnvoyConfigsValidate(t *testing.T) {
	bin := requireEnvoy(t)
	p := newLinkPKI(t)
	root := filepath.Join(p.dir, "etc-envoy")
	p.frontProxyFiles(t, root, leaf(t, p.link, "envoy", stack.LeafOptions{URIs: uri(t, gatewayID), Client: true}), p.link.CertPEM)

	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "envoy"))
	if err != nil {
		t.Fatal(err)
	}
	localize := map[string]stack.Localize{
		"front-proxy.yaml": {
			Paths: map[string]string{"/etc/envoy/": root},
			Hosts: map[string]string{"0.0.0.0": "127.0.0.1", "hookguard-pods.hookguard.svc.cluster.local": "127.0.0.1", "app": "127.0.0.1"},
			Ports: map[int]int{8443: 18443, 9901: 19901, 9191: 19191, 8080: 18080},
		},
		"sidecar.yaml": {
			Paths: map[string]string{"/run/hookguard/": p.dir},
			Hosts: map[string]string{"0.0.0.0": "127.0.0.1"},
			Ports: map[int]int{8080: 18080, 9901: 19901, 3000: 13000},
		},
	}
	checked := 0
	for _, e := range entries {
		name := e.Name()
		out := filepath.Join(p.dir, "validate-"+name+".json")
		switch {
		case name == "envoy.yaml.tmpl":
			out = filepath.Join(p.dir, "validate-envoy.yaml")
			var buf bytes.Buffer
			err := stack.RenderEnvoyConfig(filepath.Join(repoRoot(t), "envoy", name), stack.EnvoyConfig{
				ListenPort: 18443, MTLSPort: 18444, AdminPort: 19901, AuthzPort: 19191, UpstreamPort: 18080,
				CertFile: p.edge.Server.CertFile, KeyFile: p.edge.Server.KeyFile, ClientCAFile: p.edge.CA.CertFile,
			}, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(name, ".yaml"):
			l, ok := localize[name]
			if !ok {
				t.Errorf("envoy/%s: a shipped Envoy config this test does not know how to validate", name)
				continue
			}
			src, err := stack.ShippedEnvoyConfig(name)
			if err != nil {
				t.Fatal(err)
			}
			conf, err := stack.LocalizeEnvoyConfig(src, l)
			if err != nil {
				t.Fatalf("envoy/%s: %v", name, err)
			}
			if err := os.WriteFile(out, conf, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		if err := stack.ValidateEnvoyConfig(context.Background(), bin, out); err != nil {
			t.Errorf("envoy/%s: %v", name, err)
		}
		checked++
	}
	if checked != 3 {
		t.Errorf("validated %d configs, want 3 (envoy.yaml.tmpl, front-proxy.yaml, sidecar.yaml)", checked)
	}
}

// The localizer refuses a config whose paths or ports it was not told
// about, so a test can neither read the machine's /etc nor run with a
// certificate missing.
func TestLocalizeRefusesWhatItDoesNotCover(t *testing.T) {
	src, err := stack.ShippedEnvoyConfig("front-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = stack.LocalizeEnvoyConfig(src, stack.Localize{Paths: map[string]string{"/etc/envoy/": t.TempDir()}})
	for _, want := range []string{"tls.crt: ", "no Localize.Ports entry for 8443", "no Localize.Hosts entry for app"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := stack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// `hookguard serve` with only --policies listens on loopback alone. The
// test reads the addresses the process really listens on from the kernel
// (/proc/net/tcp{,6}, by the socket inodes the process holds), not what it
// says it does.
func TestServeDefaultFlagsListenOnLoopback(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	for _, port := range []string{"9191", "9192"} {
		if l, err := net.Listen("tcp", "127.0.0.1:"+port); err != nil {
			t.Skipf("port %s is taken on this machine, so the defaults cannot be started: %v", port, err)
		} else {
			l.Close()
		}
	}
	bin := hookguardBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--policies", writePolicies(t, filepath.Join(dir, "policies")))
	cmd.Env = append(os.Environ(), secretEnv()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var listening []string
	if !eventually(10*time.Second, func() bool {
		listening = listenAddrs(t, cmd.Process.Pid)
		return len(listening) >= 2
	}) {
		t.Fatalf("hookguard listens on %v; log:\n%s", listening, stderr.String())
	}
	want := map[string]bool{"127.0.0.1:9191": true, "127.0.0.1:9192": true}
	for _, a := range listening {
		if !want[a] {
			t.Errorf("listens on %s; want only %v", a, want)
		}
		delete(want, a)
	}
	if len(want) != 0 {
		t.Errorf("not listening on %v (listening on %v)", want, listening)
	}
	// The serving log line names the same addresses.
	if !eventually(5*time.Second, func() bool { return strings.Contains(stderr.String(), `"message":"serving"`) }) {
		t.Fatalf("no serving line:\n%s", stderr.String())
	}
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["message"] == "serving" {
			if l["grpc_addr"] != "127.0.0.1:9191" || l["admin_addr"] != "127.0.0.1:9192" {
				t.Errorf("serving line: %v", l)
			}
		}
	}
}

// listenAddrs returns the TCP addresses in LISTEN state whose sockets the
// process pid holds.
func listenAddrs(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st ... inode (10th field)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			out = append(out, procAddr(t, f[1]))
		}
	}
	return out
}

// procAddr decodes /proc/net/tcp's hex "0100007F:23E7" (IPv4 little-endian
// by 32-bit word, as are IPv6's four words).
func procAddr(t *testing.T, s string) string {
	t.Helper()
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	raw := make(net.IP, len(hexIP)/2)
	for i := range raw {
		v, err := strconv.ParseUint(hexIP[2*i:2*i+2], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = byte(v)
	}
	for w := 0; w+4 <= len(raw); w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	return net.JoinHostPort(raw.String(), strconv.FormatUint(port, 10))
}
