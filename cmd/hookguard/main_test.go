package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
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
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "hookguard ") || !strings.Contains(out, "\nrevision  ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, ""); code != 2 || !strings.Contains(errOut, "missing command") || !strings.Contains(errOut, "usage:") {
		t.Errorf("no command: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		if code, out, errOut := runCmd(t, "", args...); code != 0 || !strings.HasPrefix(out, "usage: hookguard <command>") || errOut != "" {
			t.Errorf("%v: %d %q %q", args, code, out, errOut)
		}
	}
}

// TestUsageErrors checks that every command line a command cannot run
// exits 2 and says what was wrong, then shows the synopsis.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"validate"}, "missing DIR"},
		{[]string{"validate", dir, dir}, "one DIR at a time, got 2"},
		{[]string{"validate", "--format", "yaml", dir}, `--format "yaml": must be text or json`},
		{[]string{"validate", dir, "--format=yaml"}, `--format "yaml": must be text or json`},
		{[]string{"validate", dir, "--format"}, "flag needs an argument: -format"},
		{[]string{"validate", dir, "--skip-secret"}, "unknown flag --skip-secret (flags: --format, --nonce-capacity, --skip-secrets)"},
		{[]string{"validate", "--skip-secrets=maybe", dir}, `invalid boolean value "maybe" for -skip-secrets`},
		{[]string{"test"}, "missing DIR"},
		{[]string{"test", "-v"}, "missing DIR"},
		{[]string{"test", dir, "-x"}, "unknown flag -x (flags: --run, -v)"},
		{[]string{"test", dir, "-run", "("}, `--run "(": error parsing regexp`},
		{[]string{"serve"}, "--policies DIR is required"},
		{[]string{"serve", "--policies", dir, "extra"}, `unexpected argument "extra"`},
		{[]string{"serve", "--policies", dir, "--log-level", "loud"}, `--log-level "loud": must be debug, info, warn or error`},
		{[]string{"serve", "--policies", dir, "--log-format", "xml"}, `--log-format "xml": must be json or console`},
		{[]string{"serve", "--policies", dir, "--max-body-bytes", "lots"}, `invalid value "lots" for flag -max-body-bytes`},
		{[]string{"serve", "--policies", dir, "--state", "postgres://db"}, `URL scheme "postgres": want redis, rediss, redis+sentinel or redis+cluster`},
		{[]string{"serve", "--policies", dir, "--state", "redis+sentinel://s:26379"}, "needs master_name=NAME"},
		{[]string{"serve", "--policies", dir, "--state", "redis://r:6379", "--state-prefix", "{x}"}, "key prefix"},
		{[]string{"serve", "--policies", dir, "--state", "redis://r:6379", "--state-timeout", "-1s"}, "negative"},
		{[]string{"sign", "-"}, "missing --scheme"},
		{[]string{"sign", "--scheme", "github", "-"}, "missing the key"},
		{[]string{"sign", "--scheme", "github", "--secret-env", "A", "--secret-file", "f", "-"}, "give one of --secret-env, --secret-file and --private-key-file"},
		{[]string{"sign", "--scheme", "github", "--secret-env", "A"}, "missing the body"},
		{[]string{"sign", "--scheme", "github", "--secret-env", "A", "body.json"}, `unexpected argument "body.json"`},
		{[]string{"version", "--x"}, "unknown flag --x (the command takes no flags but -h)"},
		{[]string{"version", "now"}, `unexpected argument "now"`},
	} {
		code, out, errOut := runCmd(t, "", tc.args...)
		name := tc.args[0]
		if code != 2 || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", tc.args, code, out)
		}
		if !strings.HasPrefix(errOut, "hookguard "+name+": ") || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: stderr %q does not say %q", tc.args, errOut, tc.want)
		}
		if !strings.Contains(errOut, "\nusage: hookguard "+name) {
			t.Errorf("%q: stderr %q lacks the synopsis", tc.args, errOut)
		}
	}
}

// TestHelp checks that -h and --help on every command exit 0 and print the
// synopsis, with its arguments, and the flags to standard output.
func TestHelp(t *testing.T) {
	for cmd, want := range map[string][]string{
		"serve":     {"usage: hookguard serve --policies DIR", "--grpc-addr string", "(default 127.0.0.1:9191)"},
		"validate":  {"usage: hookguard validate [--format text|json] [--skip-secrets] [--nonce-capacity N] DIR", "--format format", "--skip-secrets\n"},
		"test":      {"usage: hookguard test [-v] [--run REGEXP] DIR...", "--run regexp", "DIR/..."},
		"sign":      {"usage: hookguard sign (--scheme S | --provider NAME)", "--secret-env string", "--body-file string", "--provider string"},
		"providers": {"usage: hookguard providers [--format text|json] [NAME...]", "--format format"},
		"version":   {"usage: hookguard version\n"},
	} {
		for _, flag := range []string{"-h", "--help", "-help"} {
			code, out, errOut := runCmd(t, "", cmd, flag)
			if code != 0 || errOut != "" {
				t.Errorf("%s %s: exit %d, stderr %q", cmd, flag, code, errOut)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("%s %s: help lacks %q:\n%s", cmd, flag, w, out)
				}
			}
		}
		// -h wins over everything else on the line, as with go test.
		if code, out, _ := runCmd(t, "", cmd, "somewhere", "-h"); code != 0 || !strings.Contains(out, want[0]) {
			t.Errorf("%s DIR -h: exit %d\n%s", cmd, code, out)
		}
		if code, out, _ := runCmd(t, "", "help", cmd); code != 0 || !strings.Contains(out, want[0]) {
			t.Errorf("help %s: exit %d\n%s", cmd, code, out)
		}
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "d.yaml"), []byte("endpoints:\n- name: d\n  match: {path: /d}\n  verify: {github: {secrets: [{env: HG_CMD_TEST_UNSET}]}}\n"), 0o600)
	// Without --skip-secrets the unset secret is an error; after DIR the
	// flag must still count.
	if code, out, _ := runCmd(t, "", "validate", d); code != 1 {
		t.Fatalf("unset secret: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"validate", d, "--skip-secrets"},
		{"validate", "--skip-secrets", d},
		{"validate", d, "--skip-secrets", "--format", "json"},
		{"validate", "--format=json", d, "--skip-secrets=true"},
	} {
		if code, out, errOut := runCmd(t, "", args...); code != 0 {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if _, out, _ := runCmd(t, "", "validate", d, "--skip-secrets", "--format", "json"); !strings.HasPrefix(out, "{") {
		t.Errorf("--format after DIR ignored:\n%s", out)
	}
	// "--" ends the flags: a directory may start with a dash.
	dash := filepath.Join(t.TempDir(), "-p")
	os.Mkdir(dash, 0o755)
	os.WriteFile(filepath.Join(dash, "d.yaml"), []byte("endpoints:\n- name: d\n  match: {path: /d}\n  verify: {github: {secrets: [{env: HG_CMD_TEST_UNSET}]}}\n"), 0o600)
	t.Chdir(filepath.Dir(dash))
	if code, out, errOut := runCmd(t, "", "validate", "--skip-secrets", "--", "-p"); code != 0 {
		t.Errorf("validate -- -p: exit %d\n%s%s", code, out, errOut)
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
	c := newSubcommand("x", "", "", io.Discard, io.Discard)
	addr := c.String("grpc-addr", ":9191", "")
	level := c.String("log-level", "info", "")
	t.Setenv("HOOKGUARD_GRPC_ADDR", "127.0.0.1:1")
	t.Setenv("HOOKGUARD_LOG_LEVEL", "debug")
	if _, err := c.parse([]string{"--log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:1" || *level != "warn" {
		t.Errorf("grpc-addr %q (want from env), log-level %q (want the flag over env)", *addr, *level)
	}
	c = newSubcommand("y", "", "", io.Discard, io.Discard)
	c.Int("n", 1, "")
	t.Setenv("HOOKGUARD_N", "many")
	if _, err := c.parse(nil); err == nil || !strings.Contains(err.Error(), "HOOKGUARD_N") {
		t.Errorf("bad env value: %v", err)
	}
	// A usage error from the environment names the variable too.
	t.Setenv("HOOKGUARD_FORMAT", "yaml")
	if code, _, errOut := runCmd(t, "", "validate", t.TempDir()); code != 2 || !strings.Contains(errOut, `--format "yaml"`) {
		t.Errorf("HOOKGUARD_FORMAT=yaml: exit %d %q", code, errOut)
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
