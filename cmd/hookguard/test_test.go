package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTestCommand(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "a.yaml"), []byte("endpoints:\n- name: a\n  match: {path: /a}\n  verify: {token: {header: x-token, secrets: [{env: TOKEN}]}}\n"), 0o600)
	os.WriteFile(filepath.Join(d, "a_test.yaml"), []byte(`
secrets: {env: {TOKEN: t}}
tests:
  - name: the token is allowed
    request: {path: /a, headers: {x-token: t}}
    expect: {decision: allow}
  - name: expects the wrong thing
    request: {path: /a, headers: {x-token: t}}
    expect: {decision: deny, reason: signature_invalid}
`), 0o600)

	code, out, _ := runCmd(t, "", "test", d)
	if code != 1 {
		t.Errorf("exit %d with a failing case, want 1", code)
	}
	for _, want := range []string{
		"--- FAIL: " + d + "/a_test.yaml:7: expects the wrong thing",
		`    decision: got "allow", want "deny"`,
		`    reason: got "ok", want "signature_invalid"`,
		"FAIL\t" + d,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "\n1 passed, 1 failed\n") {
		t.Errorf("output does not end with the summary:\n%s", out)
	}

	code, out, _ = runCmd(t, "", "test", "-v", "-run", "token is", d)
	if code != 0 || !strings.Contains(out, "--- PASS: ") || !strings.HasSuffix(out, "1 passed, 0 failed\n") {
		t.Errorf("-run selecting the passing case: exit %d\n%s", code, out)
	}
	// Flags after the directory are flags, not more directories.
	code, out, _ = runCmd(t, "", "test", d, "-run", "token is", "-v")
	if code != 0 || !strings.Contains(out, "--- PASS: ") || !strings.HasSuffix(out, "1 passed, 0 failed\n") {
		t.Errorf("test DIR -run R -v: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCmd(t, "", "test"); code != 2 || !strings.Contains(errOut, "usage: hookguard test") {
		t.Errorf("no directory: exit %d %q", code, errOut)
	}
	if code, _, _ := runCmd(t, "", "test", "-run", "(", d); code != 2 {
		t.Errorf("bad -run: exit %d", code)
	}
	if code, out, _ := runCmd(t, "", "test", "../../policies"); code != 0 {
		t.Errorf("the example policies' tests fail:\n%s", out)
	}
}
