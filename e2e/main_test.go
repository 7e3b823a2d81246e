package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookguard/hookguard/e2e/stack"
)

// testMaxRequestBytes is smaller than the demo's 1 MiB so the 413 case does
// not have to push megabytes through TLS on a two-core machine.
const testMaxRequestBytes = 65536

// policyYAML is the policy under test, in the project's decided format.
const policyYAML = `endpoints:
  - name: github
    match: {path_prefix: /webhooks/github}
    verify:
      github:
        secrets: [{env: GITHUB_WEBHOOK_SECRET}]
    on_allow:
      set_headers: {x-webhook-source: github}
      remove_headers: [x-hub-signature-256]
  - name: gitlab
    match: {path_prefix: /webhooks/gitlab}
    verify:
      token: {header: x-gitlab-token, id_header: x-gitlab-event-uuid, secrets: [{env: GITLAB_WEBHOOK_TOKEN}]}
`

var (
	// Random per run, so the decision-log test can prove that no secret
	// leaks by searching for a string that cannot appear by accident.
	githubSecret = "gh-e2e-" + randomHex(16)
	gitlabToken  = "gl-e2e-" + randomHex(16)

	workDir string // everything this run writes; removed unless a test failed

	buildOnce sync.Once
	hgBinary  string
	buildErr  error

	// Every signature header value the tests sent, for the log-leak check.
	sentMu         sync.Mutex
	sentSignatures []string
)

func TestMain(m *testing.M) {
	var err error
	workDir, err = os.MkdirTemp("", "hookguard-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := m.Run()
	for _, f := range fixtures {
		if f.stack == nil {
			continue
		}
		if err := f.stack.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: stopping the %s stack: %v\n", f.name, err)
			if code == 0 {
				code = 1
			}
		}
	}
	if code != 0 || os.Getenv("HOOKGUARD_E2E_KEEP") != "" {
		fmt.Fprintln(os.Stderr, "e2e: logs kept in", workDir)
	} else {
		os.RemoveAll(workDir)
	}
	os.Exit(code)
}

// secretEnv is what every hookguard in these tests gets in its environment.
func secretEnv() []string {
	return []string{"GITHUB_WEBHOOK_SECRET=" + githubSecret, "GITLAB_WEBHOOK_TOKEN=" + gitlabToken}
}

// hookguardBinary builds ./cmd/hookguard once per test run (a cold build of
// the gRPC stack takes a while; every test shares the result).
func hookguardBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if bin := os.Getenv(stack.HookguardEnv); bin != "" {
			hgBinary = bin
			return
		}
		hgBinary = filepath.Join(workDir, "bin", "hookguard")
		buildErr = stack.BuildHookguard(context.Background(), hgBinary, os.Stderr)
	})
	if buildErr != nil {
		t.Fatalf("build hookguard: %v", buildErr)
	}
	return hgBinary
}

// writePolicies puts policyYAML into a fresh directory for --policies.
func writePolicies(t testing.TB, dir string) string {
	t.Helper()
	if err := writePolicyFile(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writePolicyFile(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "e2e.yaml"), []byte(policyYAML), 0o644)
}

// A fixture is a stack (one Envoy, one hookguard, one upstream) with its own
// policies, started on first use and shared by the tests that ask for it:
// start-up costs seconds, the cases milliseconds. TestMain stops them all.
type fixture struct {
	name  string
	files map[string]string // the policy directory's content
	env   func() []string   // hookguard's environment (secrets)
	once  sync.Once
	stack *stack.Stack
	err   error

	// noBodyPath, when set, gets an Envoy route whose checks carry no
	// body (stack.Options.NoBodyPath).
	noBodyPath string
}

// fixtures are every fixture declared, for TestMain to stop.
var fixtures []*fixture

func newFixture(name string, files map[string]string, env func() []string) *fixture {
	f := &fixture{name: name, files: files, env: env}
	fixtures = append(fixtures, f)
	return f
}

// get returns the fixture's stack, starting it on first use, with the
// upstream's record reset for the calling test.
func (f *fixture) get(t *testing.T) *stack.Stack {
	t.Helper()
	requireEnvoy(t)
	bin := hookguardBinary(t)
	f.once.Do(func() {
		var logw io.Writer = io.Discard
		if testing.Verbose() {
			logw = os.Stderr
		}
		dir := filepath.Join(workDir, f.name)
		policies := filepath.Join(dir, "policies")
		if f.err = os.MkdirAll(policies, 0o755); f.err != nil {
			return
		}
		for name, content := range f.files {
			if f.err = os.WriteFile(filepath.Join(policies, name), []byte(content), 0o644); f.err != nil {
				return
			}
		}
		f.stack, f.err = stack.Start(context.Background(), stack.Options{
			Dir:             dir,
			PoliciesDir:     policies,
			HookguardBinary: bin,
			HookguardEnv:    f.env(),
			MaxRequestBytes: testMaxRequestBytes,
			NoBodyPath:      f.noBodyPath,
			Log:             logw,
		})
	})
	if f.err != nil {
		t.Fatalf("start the %s stack: %v", f.name, f.err)
	}
	f.stack.Upstream.Reset()
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(f.stack.LogTails(3000))
		}
	})
	return f.stack
}

// sharedFixture serves policyYAML, for the GitHub and GitLab cases.
var sharedFixture = newFixture("shared", map[string]string{"e2e.yaml": policyYAML}, secretEnv)

// shared returns the stack of sharedFixture.
func shared(t *testing.T) *stack.Stack { return sharedFixture.get(t) }

// signGitHub computes the X-Hub-Signature-256 value independently of
// hookguard, so a shared bug cannot make both sides agree.
func signGitHub(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	rememberSignature(sig)
	return sig
}

func rememberSignature(sig string) {
	sentMu.Lock()
	sentSignatures = append(sentSignatures, sig)
	sentMu.Unlock()
}

// githubHeaders are the headers of a GitHub delivery signed with secret.
func githubHeaders(secret string, body []byte, delivery string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/e2e")
	h.Set("X-GitHub-Event", "push")
	h.Set("X-GitHub-Delivery", delivery)
	h.Set("X-Hub-Signature-256", signGitHub(secret, body))
	return h
}

func gitlabHeaders(token, eventUUID string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Gitlab-Event", "Push Hook")
	h.Set("X-Gitlab-Token", token)
	h.Set("X-Gitlab-Event-UUID", eventUUID)
	return h
}

// response is what a test needs from an HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("HTTP %d %v %q", r.Status, r.Header, truncate(r.Body, 512))
}

// send does one request through Envoy. Each request gets a 15 s client
// timeout (set on the client), so no case can hang the suite.
func send(t *testing.T, c *http.Client, method, url string, h http.Header, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = append([]string(nil), vs...)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// errorBody is hookguard's JSON denial.
type errorBody struct {
	Error     string `json:"error"`
	Endpoint  string `json:"endpoint"`
	RequestID string `json:"request_id"`
}

// wantDenial checks a hookguard denial: status, JSON content type, error code
// and, when endpoint is non-empty, the endpoint; request_id must be set so a
// provider's failed delivery can be found in the logs.
func wantDenial(t *testing.T, r response, status int, code, endpoint string) errorBody {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status: got %d, want %d (%s)", r.Status, status, r)
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" {
		t.Errorf("content-type: got %q, want application/json", r.Header.Get("Content-Type"))
	}
	var e errorBody
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("denial body is not JSON: %v: %q", err, r.Body)
	}
	if e.Error != code {
		t.Errorf("error: got %q, want %q (body %s)", e.Error, code, r.Body)
	}
	if endpoint != "" && e.Endpoint != endpoint {
		t.Errorf("endpoint: got %q, want %q (body %s)", e.Endpoint, endpoint, r.Body)
	}
	if e.RequestID == "" {
		t.Errorf("request_id is empty (body %s)", r.Body)
	}
	return e
}

// wantNothingUpstream asserts a denied request never reached the application.
func wantNothingUpstream(t *testing.T, s *stack.Stack) {
	t.Helper()
	if reqs := s.Upstream.Requests(); len(reqs) != 0 {
		t.Errorf("upstream saw %d request(s), want none: first %s %s %v", len(reqs), reqs[0].Method, reqs[0].Path, reqs[0].Header)
	}
}

// onlyUpstream returns the single request the upstream recorded.
func onlyUpstream(t *testing.T, s *stack.Stack) stack.RecordedRequest {
	t.Helper()
	reqs := s.Upstream.Requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests, want exactly 1", len(reqs))
	}
	return reqs[0]
}

// newUUID returns a random version-4 UUID, the shape of GitHub delivery IDs
// and GitLab event UUIDs.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// eventually retries cond every 100 ms for at most d; for effects that land
// asynchronously (log lines flushed, health checks noticed).
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
