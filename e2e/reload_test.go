package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/policyfs"
	"github.com/hookguard/hookguard/e2e/stack"
)

// reloadBound is how soon a policy change on disk must decide requests.
const reloadBound = 2 * time.Second

// versionedPolicy is policyYAML with the GitHub endpoint marking allowed
// requests x-policy-version: version.
func versionedPolicy(version string) string {
	return strings.Replace(policyYAML, "set_headers: {x-webhook-source: github}",
		fmt.Sprintf("set_headers: {x-webhook-source: github, x-policy-version: %q}", version), 1)
}

// delivery sends one signed GitHub delivery through Envoy and returns the
// status and the x-policy-version the upstream saw. It never calls t.Fatal,
// so traffic goroutines can use it.
func delivery(c *http.Client, url, tag string) (status int, version string, err error) {
	body := []byte(fmt.Sprintf(`{"tag":%q,"nonce":%q}`, tag, randomHex(8)))
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header = githubHeaders(githubSecret, body, newUUID())
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, "", err
	}
	var echo stack.Echo
	if err := json.Unmarshal(b, &echo); err != nil {
		return resp.StatusCode, "", fmt.Errorf("upstream answer: %v", err)
	}
	if v := echo.Headers["X-Policy-Version"]; len(v) > 0 {
		version = v[0]
	}
	return resp.StatusCode, version, nil
}

// adminStatus reads hookguard's /status.
func adminStatus(t *testing.T, h *stack.Hookguard) (policyOK bool, revision string) {
	t.Helper()
	resp, err := http.Get(h.AdminURL() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		PolicyOK bool `json:"policy_ok"`
		Policy   struct {
			Revision string `json:"revision"`
		} `json:"policy"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.PolicyOK, st.Policy.Revision
}

// TestPolicyChangeUnderTraffic changes the policy on disk, the way a
// ConfigMap volume changes, while deliveries flow through Envoy: the new rule
// must decide requests within reloadBound, a broken change must change
// nothing, and no request may fail at any point.
func TestPolicyChangeUnderTraffic(t *testing.T) {
	requireEnvoy(t)
	bin := hookguardBinary(t)
	dir := t.TempDir()
	vol, err := policyfs.NewVolume(filepath.Join(dir, "policies"), map[string]string{"e2e.yaml": versionedPolicy("v1")})
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, stack.Options{
		Dir:             dir,
		PoliciesDir:     vol.Dir,
		HookguardBinary: bin,
		HookguardEnv:    secretEnv(),
		MaxRequestBytes: testMaxRequestBytes,
	})
	url := s.URL("/webhooks/github")

	// Bounded background traffic: two senders, at most 1500 deliveries
	// each, over keep-alive connections to 127.0.0.1.
	var (
		sent, failed atomic.Int64
		mu           sync.Mutex
		failures     []string
		seen         = map[string]int{}
		stop         = make(chan struct{})
		wg           sync.WaitGroup
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.Client
			if w == 1 {
				c = s.Client11
			}
			for i := range 1500 {
				select {
				case <-stop:
					return
				default:
				}
				status, version, err := delivery(c, url, fmt.Sprintf("w%d-%d", w, i))
				sent.Add(1)
				mu.Lock()
				if err != nil || status != http.StatusOK {
					failed.Add(1)
					failures = append(failures, fmt.Sprintf("w%d-%d: status %d, %v", w, i, status, err))
				} else {
					seen[version]++
				}
				mu.Unlock()
			}
		}()
	}
	finish := func() {
		close(stop)
		wg.Wait()
	}

	// waitVersion probes until a delivery is decided by version and
	// returns how long after since that was.
	waitVersion := func(version string, since time.Time) time.Duration {
		t.Helper()
		for time.Since(since) < reloadBound {
			if status, v, err := delivery(s.Client, url, "probe"); err == nil && status == http.StatusOK && v == version {
				return time.Since(since)
			}
			time.Sleep(10 * time.Millisecond)
		}
		finish()
		t.Fatalf("policy %s not live within %v", version, reloadBound)
		return 0
	}
	time.Sleep(300 * time.Millisecond) // traffic under v1

	changed := time.Now()
	if err := vol.Write(map[string]string{"e2e.yaml": versionedPolicy("v2")}); err != nil {
		t.Fatal(err)
	}
	latency := waitVersion("v2", changed)
	_, revV2 := adminStatus(t, s.Hookguard)
	time.Sleep(300 * time.Millisecond)

	// A broken change: refused whole, v2 keeps deciding, traffic unharmed.
	broken := time.Now()
	if err := vol.Write(map[string]string{"e2e.yaml": versionedPolicy("v3") + "    replay: {ttl: soon}\n"}); err != nil {
		t.Fatal(err)
	}
	for ok, _ := adminStatus(t, s.Hookguard); ok; ok, _ = adminStatus(t, s.Hookguard) {
		if time.Since(broken) > reloadBound {
			finish()
			t.Fatalf("the broken change was not refused within %v", reloadBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, rev := adminStatus(t, s.Hookguard); rev != revV2 {
		t.Errorf("revision %s after a refused change, want v2's %s", rev, revV2)
	}
	if status, v, err := delivery(s.Client, url, "after-broken"); err != nil || status != 200 || v != "v2" {
		t.Errorf("after the broken change: %d %q %v, want 200 under v2", status, v, err)
	}

	fixed := time.Now()
	if err := vol.Write(map[string]string{"e2e.yaml": versionedPolicy("v3")}); err != nil {
		t.Fatal(err)
	}
	latency = max(latency, waitVersion("v3", fixed))
	if ok, _ := adminStatus(t, s.Hookguard); !ok {
		t.Error("the good change did not clear the refusal")
	}
	time.Sleep(300 * time.Millisecond)
	finish()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("E2E-RELOAD: %d deliveries through Envoy, %d failed, by policy version %v; reload latency (change to first delivery decided by it) at most %v",
		sent.Load(), failed.Load(), seen, latency.Round(time.Millisecond))
	if failed.Load() != 0 {
		t.Errorf("%d deliveries failed during reloads, e.g. %v", failed.Load(), failures[:min(3, len(failures))])
	}
	if seen["v1"] == 0 || seen["v2"] == 0 || seen["v3"] == 0 {
		t.Errorf("traffic did not span the three versions: %v", seen)
	}
	for v := range seen {
		if v != "v1" && v != "v2" && v != "v3" {
			t.Errorf("a delivery was decided by %q", v)
		}
	}
	lines, _ := s.Hookguard.LogLines()
	var refused bool
	for _, l := range lines {
		if msg, _ := l["message"].(string); strings.HasPrefix(msg, "policy refused") {
			refused = true
		}
	}
	if !refused {
		t.Error("the refused change was not logged")
	}
}

// TestSIGHUPReloads runs hookguard with the file watch off: a change on
// disk waits for SIGHUP.
func TestSIGHUPReloads(t *testing.T) {
	bin := hookguardBinary(t)
	dir := writePolicies(t, filepath.Join(t.TempDir(), "policies"))
	h := startHookguard(t, stack.HookguardConfig{
		Binary: bin, PoliciesDir: dir, Env: secretEnv(), ExtraArgs: []string{"--watch=false"},
	})
	_, before := adminStatus(t, h)
	if err := os.WriteFile(filepath.Join(dir, "e2e.yaml"), []byte(versionedPolicy("hup")), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, rev := adminStatus(t, h); rev != before {
		t.Fatalf("reloaded with --watch=false and no signal")
	}
	if err := h.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !eventually(reloadBound, func() bool { _, rev := adminStatus(t, h); return rev != before }) {
		t.Fatalf("no reload within %v of SIGHUP", reloadBound)
	}
	if h.Exited() {
		t.Fatal("SIGHUP stopped hookguard")
	}
}

// TestInvalidPolicyDoesNotStart checks the start-up contract: an invalid set
// is a clear error and exit status 1, before anything listens.
func TestInvalidPolicyDoesNotStart(t *testing.T) {
	bin := hookguardBinary(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(policyYAML+"    replay: {ttl: soon}\n"), 0o644)
	cmd := exec.Command(bin, "serve", "--policies", dir, "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), secretEnv()...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "bad.yaml:14: endpoint \\\"gitlab\\\": replay.ttl") {
		t.Errorf("the error does not name file, line, endpoint and field:\n%s", out)
	}
}
