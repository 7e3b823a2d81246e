package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz/verify"
)

func TestProviders(t *testing.T) {
	code, out, errOut := runCmd(t, "", "providers")
	if code != 0 || !strings.Contains(out, "calendly") || !strings.Contains(out, "unsupported") || !strings.Contains(out, "supported.") {
		t.Fatalf("providers: %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCmd(t, "", "providers", "--format", "json")
	var list []verify.Provider
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != len(verify.Providers()) {
		t.Fatalf("providers --format json: %d, %d entries", code, len(list))
	}
	code, out, _ = runCmd(t, "", "providers", "aws-sns", "calendly")
	if code != 0 || !strings.Contains(out, "sns (Amazon SNS)") || !strings.Contains(out, "unsupported:") ||
		!strings.Contains(out, "tolerance:  3m") || !strings.Contains(out, "docs:") {
		t.Fatalf("providers NAME: %d\n%s", code, out)
	}
	code, _, errOut = runCmd(t, "", "providers", "stirpe")
	if code != 1 || !strings.Contains(errOut, "closest: stripe") {
		t.Fatalf("unknown provider: %d %q", code, errOut)
	}
	if code, _, _ := runCmd(t, "", "providers", "--format", "yaml"); code != 2 {
		t.Fatalf("bad format: exit %d", code)
	}
}

// TestSignProvider: sign --provider prints the provider's headers, which
// an HMAC computed here, from Calendly's documentation, matches; the URL
// for a provider that signs in the query.
func TestSignProvider(t *testing.T) {
	dir := t.TempDir()
	body := filepath.Join(dir, "body.json")
	os.WriteFile(body, []byte(`{"event":"invitee.created"}`), 0o600)
	t.Setenv("CAL_KEY", "cal-secret")
	code, out, errOut := runCmd(t, "", "sign", "--provider", "calendly", "--secret-env", "CAL_KEY", "--body-file", body)
	if code != 0 {
		t.Fatalf("sign --provider: %d %s", code, errOut)
	}
	name, value, _ := strings.Cut(strings.TrimSpace(out), ": ")
	ts, sig, _ := strings.Cut(strings.TrimPrefix(value, "t="), ",v1=")
	m := hmac.New(sha256.New, []byte("cal-secret"))
	m.Write([]byte(ts + `.{"event":"invitee.created"}`))
	if name != "calendly-webhook-signature" || sig != hex.EncodeToString(m.Sum(nil)) {
		t.Fatalf("sign --provider calendly printed %q", out)
	}
	if n, err := time.ParseDuration(ts + "s"); err != nil || time.Since(time.Unix(int64(n.Seconds()), 0)) > time.Minute {
		t.Errorf("timestamp %q is not now", ts)
	}

	code, out, _ = runCmd(t, "", "sign", "--provider", "pandadoc", "--secret-env", "CAL_KEY", "--url", "https://h.example/pd", "--body-file", body)
	if code != 0 || !strings.HasPrefix(out, "https://h.example/pd?signature=") {
		t.Fatalf("sign --provider pandadoc: %d %q", code, out)
	}
	for _, args := range [][]string{
		{"sign", "--provider", "calendly", "--scheme", "github", "--secret-env", "CAL_KEY", "--body-file", body},
		{"sign", "--scheme", "github", "--version", "v1", "--secret-env", "CAL_KEY", "--body-file", body},
	} {
		if code, _, _ := runCmd(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCmd(t, "", "sign", "--provider", "sns", "--secret-env", "CAL_KEY", "--body-file", body); code != 2 || !strings.Contains(errOut, "not supported") {
		t.Errorf("unsupported provider: %d %q", code, errOut)
	}
}
