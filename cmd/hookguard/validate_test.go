package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateSkipSecretsAndKeys checks that --skip-secrets does not fail a
// policy on the format of a placeholder key, and still fails it on
// everything else.
func TestValidateSkipSecretsAndKeys(t *testing.T) {
	d := t.TempDir()
	policy := "endpoints:\n- name: discord\n  match: {path: /d}\n  verify: {discord: {public_keys: [{env: DISCORD_PUBLIC_KEY}]}}\n"
	os.WriteFile(filepath.Join(d, "d.yaml"), []byte(policy), 0o600)
	code, out, _ := runCmd(t, "", "validate", "--skip-secrets", d)
	if code != 0 || !strings.Contains(out, "skipped with --skip-secrets") {
		t.Errorf("placeholder public key: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(d, "d.yaml"), []byte(policy+"  replay: {ttl: soon}\n"), 0o600)
	code, out, _ = runCmd(t, "", "validate", "--skip-secrets", d)
	if code != 1 || !strings.Contains(out, "d.yaml:5: endpoint \"discord\": replay.ttl") || strings.Contains(out, "public_keys") {
		t.Errorf("a real error beside a placeholder key: exit %d\n%s", code, out)
	}
}

// TestValidateSkipSecretsEveryKeyScheme: --skip-secrets passes the
// placeholders of every scheme whose keys have a form (RFC 9421, Standard
// Webhooks, SendGrid), and the JSON output gives each error its code.
func TestValidateSkipSecretsEveryKeyScheme(t *testing.T) {
	d := t.TempDir()
	policy := `endpoints:
- name: httpsig
  match: {path: /h}
  verify: {http_message_signatures: {keys: [{keyid: k, algorithm: ed25519, key: {env: K}}]}}
- name: sw
  match: {path: /s}
  verify: {standard_webhooks: {secrets: [{env: S}], public_keys: [{env: P}]}}
- name: sendgrid
  match: {path: /g}
  verify: {sendgrid: {public_keys: [{env: G}]}}
`
	os.WriteFile(filepath.Join(d, "p.yaml"), []byte(policy), 0o600)
	if code, out, _ := runCmd(t, "", "validate", "--skip-secrets", d); code != 0 {
		t.Errorf("placeholder keys: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(d, "p.yaml"), []byte(policy+"  replay: {ttl: soon}\n"), 0o600)
	code, out, _ := runCmd(t, "", "validate", "--skip-secrets", "--format", "json", d)
	if code != 1 || !strings.Contains(out, `"field": "replay.ttl"`) || !strings.Contains(out, `"code": "policy"`) || strings.Contains(out, "secret_value") {
		t.Errorf("a real error beside placeholder keys: exit %d\n%s", code, out)
	}
}
