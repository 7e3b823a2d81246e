package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz/policy"
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

// TestValidateReportsIndentation checks the report of a key indented one
// space too few: the line it is on, and what to look at.
func TestValidateReportsIndentation(t *testing.T) {
	d := t.TempDir()
	doc := "endpoints:\n  - name: github\n    match:\n      path_prefix: /webhooks/github\n     methods: [POST]\n    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"
	os.WriteFile(filepath.Join(d, "a.yaml"), []byte(doc), 0o600)
	code, out, _ := runCmd(t, "", "validate", "--skip-secrets", d)
	want := "a.yaml:5: invalid YAML: did not find expected key; check the indentation of this line"
	if code != 1 || !strings.Contains(out, want) || !strings.HasSuffix(out, "\ninvalid: 1 error\n") {
		t.Errorf("exit %d, want %q and one error:\n%s", code, want, out)
	}
}

// TestValidateJSONShape checks that the JSON report always has lists, never
// null, and names the revision of a set that does not load.
func TestValidateJSONShape(t *testing.T) {
	type report struct {
		Valid    bool              `json:"valid"`
		Revision string            `json:"revision"`
		Digest   string            `json:"digest"`
		Errors   []json.RawMessage `json:"errors"`
		Warnings []json.RawMessage `json:"warnings"`
	}
	parse := func(out string) (r report) {
		t.Helper()
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		return r
	}

	good := t.TempDir()
	os.WriteFile(filepath.Join(good, "a.yaml"), []byte("endpoints:\n- name: a\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"), 0o600)
	code, out, _ := runCmd(t, "", "validate", "--format", "json", "--skip-secrets", good)
	if r := parse(out); code != 0 || !r.Valid || r.Errors == nil || r.Warnings == nil || !strings.Contains(out, `"errors": []`) || !strings.Contains(out, `"warnings": []`) {
		t.Errorf("valid set without warnings: exit %d\n%s", code, out)
	}

	bad := t.TempDir()
	content := []byte("endpoints:\n- name: a\n  verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n  replay: {ttl: soon}\n")
	os.WriteFile(filepath.Join(bad, "a.yaml"), content, 0o600)
	code, out, _ = runCmd(t, "", "validate", "--format", "json", "--skip-secrets", bad)
	r := parse(out)
	digest := policy.Digest([]string{"a.yaml"}, [][]byte{content})
	if code != 1 || r.Valid || len(r.Errors) != 1 || r.Warnings == nil || r.Digest != digest || r.Revision != digest {
		t.Errorf("invalid set: exit %d, want revision and digest %s\n%s", code, digest, out)
	}

	code, out, _ = runCmd(t, "", "validate", "--format", "json", filepath.Join(bad, "missing"))
	if r := parse(out); code != 1 || len(r.Errors) != 1 || r.Revision != "" || strings.Contains(out, `"revision"`) {
		t.Errorf("unreadable directory: exit %d\n%s", code, out)
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

// TestValidateSkipSecretsKeepsTyposInSecretReferences: --skip-secrets skips
// only the checks of a secret's value; a misspelt field inside a secret
// reference is still an error.
func TestValidateSkipSecretsKeepsTyposInSecretReferences(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "s.yaml"), []byte("endpoints:\n- name: stripe\n  match: {path: /s}\n  verify: {stripe: {secrets: [{evn: STRIPE_SECRET}]}}\n"), 0o600)
	code, out, _ := runCmd(t, "", "validate", "--skip-secrets", d)
	if code != 1 || !strings.Contains(out, `verify.stripe.secrets[0].evn: unknown field "evn"`) {
		t.Errorf("exit %d, want the typo reported:\n%s", code, out)
	}
}

// TestValidateJSONReportsReplayPerEndpoint: the JSON report gives each
// endpoint's effective replay TTL, share and on_full, defaults applied, for
// the capacity --nonce-capacity names, so that a policy repository's CI can
// assert them; shares over that capacity are an error naming the endpoints.
func TestValidateJSONReportsReplayPerEndpoint(t *testing.T) {
	d := t.TempDir()
	doc := `endpoints:
- name: github
  match: {path: /g}
  verify: {github: {secrets: [{env: G}]}}
- name: stripe
  match: {path: /s}
  verify: {stripe: {secrets: [{env: S}]}}
  replay: {on_full: reject}
- name: partner
  match: {path: /p}
  verify: {hmac: {secrets: [{env: P}], header: x-sig}}
  replay: {capacity: 40000, ttl: 1h}
- name: gitlab
  match: {path: /l}
  verify: {token: {header: x-gitlab-token, secrets: [{env: L}]}}
`
	os.WriteFile(filepath.Join(d, "p.yaml"), []byte(doc), 0o600)
	code, out, _ := runCmd(t, "", "validate", "--skip-secrets", "--format", "json", "--nonce-capacity", "100000", d)
	var r struct {
		NonceCapacity int `json:"nonce_capacity"`
		ByEndpoint    []struct {
			Name   string         `json:"name"`
			Replay map[string]any `json:"replay"`
		} `json:"by_endpoint"`
	}
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	got := map[string]map[string]any{}
	for _, e := range r.ByEndpoint {
		got[e.Name] = e.Replay
	}
	// 60,000 left by the partner, split 1440:10 between GitHub's 24h
	// (it signs no timestamp) and Stripe's 10m.
	want := map[string]map[string]any{
		"github":  {"enabled": true, "ttl": "24h0m0s", "ttl_seconds": 86400.0, "capacity": 59586.0, "on_full": "evict_oldest", "sustained_per_second": 0.69},
		"stripe":  {"enabled": true, "ttl": "10m0s", "ttl_seconds": 600.0, "capacity": 413.0, "on_full": "reject", "sustained_per_second": 0.688},
		"partner": {"enabled": true, "ttl": "1h0m0s", "ttl_seconds": 3600.0, "capacity": 40000.0, "on_full": "evict_oldest", "sustained_per_second": 11.111},
		"gitlab":  {"enabled": false},
	}
	if r.NonceCapacity != 100000 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nonce_capacity %d, by_endpoint\n%v\nwant\n%v", r.NonceCapacity, got, want)
	}
	if names := []string{r.ByEndpoint[0].Name, r.ByEndpoint[3].Name}; names[0] != "github" || names[1] != "stripe" {
		t.Errorf("endpoints not sorted by name: %v", names)
	}

	code, out, _ = runCmd(t, "", "validate", "--skip-secrets", "--nonce-capacity", "30000", d)
	if code != 1 || !strings.Contains(out, `p.yaml:12: endpoint "partner": replay.capacity: the endpoints' own replay shares add up to 40000, more than the replay store's capacity of 30000`) {
		t.Errorf("shares over --nonce-capacity: exit %d\n%s", code, out)
	}
}
