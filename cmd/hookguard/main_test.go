package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/policy"
)

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "hookguard ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, ""); code != 2 || !strings.Contains(errOut, "usage:") {
		t.Errorf("no command: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "serve"); code != 2 || !strings.Contains(errOut, "--policies is required") {
		t.Errorf("serve without policies: %d %q", code, errOut)
	}
}

func TestValidate(t *testing.T) {
	good := t.TempDir()
	os.WriteFile(filepath.Join(good, "a.yaml"), []byte("endpoints:\n- name: a\n  verify: {token: {header: x-token, secrets: [{env: HG_CMD_TEST_TOKEN}]}}\n"), 0o600)
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "b.yaml"), []byte("endpoints:\n- name: b\n  verify: {github: {secrets: [{env: HG_CMD_TEST_UNSET}]}}\n  replay: {ttl: nope}\n"), 0o600)
	t.Setenv("HG_CMD_TEST_TOKEN", "t")

	code, out, _ := runCmd(t, "", "validate", good)
	if code != 0 || !strings.Contains(out, "ok: 1 endpoint in 1 file, revision sha256:") || !strings.Contains(out, "warning: ") {
		t.Errorf("valid dir: %d %q", code, out)
	}
	code, out, _ = runCmd(t, "", "validate", bad)
	if code != 1 || strings.Count(out, "error: ") != 2 || !strings.Contains(out, `b.yaml:4: endpoint "b": replay.ttl`) {
		t.Errorf("invalid dir: %d %q", code, out)
	}
	if code, _, _ := runCmd(t, "", "validate", "--skip-secrets", filepath.Join(bad)); code != 1 {
		t.Errorf("--skip-secrets must still report the bad ttl: %d", code)
	}
	code, out, _ = runCmd(t, "", "validate", "--format", "json", bad)
	var report struct {
		Valid  bool `json:"valid"`
		Errors []struct {
			File, Endpoint, Field, Message string
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || code != 1 || report.Valid || len(report.Errors) != 2 {
		t.Fatalf("json: %d %v %q", code, err, out)
	}
	if e := report.Errors[0]; e.Endpoint != "b" || e.Field == "" || !strings.HasSuffix(e.File, "b.yaml") {
		t.Errorf("json error %+v", e)
	}
	if code, _, _ := runCmd(t, "", "validate"); code != 2 {
		t.Errorf("validate without dir: %d", code)
	}
}

func TestSign(t *testing.T) {
	t.Setenv("HG_CMD_TEST_SECRET", "It's a Secret to Everybody")
	code, out, errOut := runCmd(t, "Hello, World!", "sign", "--scheme", "github", "--secret-env", "HG_CMD_TEST_SECRET", "--id", "d-1", "-")
	want := "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\nX-GitHub-Delivery: d-1\n"
	if code != 0 || out != want {
		t.Fatalf("sign: %d %q %q", code, out, errOut)
	}
	body := filepath.Join(t.TempDir(), "body")
	os.WriteFile(body, []byte("Hello, World!"), 0o600)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("It's a Secret to Everybody\n"), 0o600)
	code, out, _ = runCmd(t, "", "sign", "--scheme", "github", "--secret-file", secret, "--body-file", body, "--id", "d-1")
	if code != 0 || out != want {
		t.Fatalf("sign from files: %d %q", code, out)
	}
	for name, args := range map[string][]string{
		"unset secret":   {"sign", "--scheme", "github", "--secret-env", "HG_CMD_TEST_UNSET", "-"},
		"unknown scheme": {"sign", "--scheme", "carrier-pigeon", "--secret-env", "HG_CMD_TEST_SECRET", "-"},
		"no body":        {"sign", "--scheme", "github", "--secret-env", "HG_CMD_TEST_SECRET"},
		"two secrets":    {"sign", "--scheme", "github", "--secret-env", "HG_CMD_TEST_SECRET", "--secret-file", secret, "-"},
	} {
		code, out, errOut := runCmd(t, "", args...)
		if code == 0 || out != "" {
			t.Errorf("%s: %d %q", name, code, out)
		}
		if strings.Contains(errOut, "Secret to Everybody") {
			t.Errorf("%s: error quotes the secret: %q", name, errOut)
		}
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	addr := fs.String("grpc-addr", ":9191", "")
	level := fs.String("log-level", "info", "")
	t.Setenv("HOOKGUARD_GRPC_ADDR", "127.0.0.1:1")
	t.Setenv("HOOKGUARD_LOG_LEVEL", "debug")
	if err := parseFlags(fs, []string{"--log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:1" || *level != "warn" {
		t.Errorf("grpc-addr %q (want from env), log-level %q (want the flag over env)", *addr, *level)
	}
	fs = flag.NewFlagSet("y", flag.ContinueOnError)
	fs.Int("n", 1, "")
	t.Setenv("HOOKGUARD_N", "many")
	if err := parseFlags(fs, nil); err == nil || !strings.Contains(err.Error(), "HOOKGUARD_N") {
		t.Errorf("bad env value: %v", err)
	}
}

// The generic hmac scheme signs in the format its endpoint defines; what
// sign prints must verify against that endpoint.
func TestSignGenericHMAC(t *testing.T) {
	t.Setenv("HG_CMD_TEST_SECRET", "acme-secret")
	dir := "../../policies/providers"
	code, out, errOut := runCmd(t, `{"order":1}`, "sign", "--scheme", "hmac", "--policies", dir, "--endpoint", "acme", "--secret-env", "HG_CMD_TEST_SECRET", "-")
	if code != 0 {
		t.Fatalf("sign: %d %q", code, errOut)
	}
	h := authz.Header{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		h[strings.ToLower(name)] = value
	}
	res, err := policy.Load(dir, policy.Options{Secrets: sameSecret("acme-secret"), Only: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Policy.Endpoint("acme").Verifier
	if _, err := v.Verify(&authz.Request{Method: "POST", Path: "/webhooks/acme", Header: h, Body: []byte(`{"order":1}`)}, time.Now()); err != nil {
		t.Fatalf("signed headers %v do not verify: %v", h, err)
	}
	if code, _, errOut := runCmd(t, "x", "sign", "--scheme", "hmac", "--secret-env", "HG_CMD_TEST_SECRET", "-"); code == 0 || !strings.Contains(errOut, "--policies") {
		t.Errorf("hmac without --policies: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "x", "sign", "--scheme", "hmac", "--policies", dir, "--endpoint", "nope", "--secret-env", "HG_CMD_TEST_SECRET", "-"); code == 0 || !strings.Contains(errOut, `no endpoint "nope"`) {
		t.Errorf("unknown endpoint: %d %q", code, errOut)
	}
}
