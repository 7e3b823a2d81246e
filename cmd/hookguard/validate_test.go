package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAboutSecretValue(t *testing.T) {
	for field, want := range map[string]bool{
		"verify.discord.public_keys[0]":              true,
		"verify.github.secrets[1].env":               true,
		"verify.http_message_signatures.keys[0].key": true,
		"verify.github.secrets":                      false, // the list: "at least one is required"
		"verify.github":                              false,
		"replay.ttl":                                 false,
		"on_allow.set_headers.x-a":                   false,
		"nonsense[0].x":                              false,
		"":                                           false,
	} {
		if got := aboutSecretValue(field); got != want {
			t.Errorf("aboutSecretValue(%q) = %v", field, got)
		}
	}
}

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
