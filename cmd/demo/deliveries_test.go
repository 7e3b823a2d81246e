package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNamedRoutes(t *testing.T) {
	routes, err := namedRoutes("../../envoy/envoy.yaml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	want := []envoyRoute{{"/webhooks/github", "github"}, {"/webhooks/gitlab", "gitlab"}, {"/webhooks/partner", "partner"}}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("routes %v, want %v", routes, want)
	}
}

func site(t *testing.T, dir string, demoSet map[string]string) *demoSite {
	t.Helper()
	routes, err := namedRoutes("../../envoy/envoy.yaml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	return &demoSite{plainPort: 8443, mtlsPort: 8444, ca: "ca.pem", clientCert: "client.pem", clientKey: "client-key.pem",
		hookguard: "./hookguard", policies: dir, routes: routes, demoSet: demoSet}
}

func TestDeliveriesOfTheExamplePolicies(t *testing.T) {
	for _, v := range []string{"GITHUB_WEBHOOK_SECRET", "GITLAB_WEBHOOK_TOKEN", "PARTNER_WEBHOOK_TOKEN"} {
		t.Setenv(v, "")
	}
	env := &demoEnv{set: map[string]string{}}
	targets, err := loadTargets("../../policies", env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(env.set, demoValues) {
		t.Errorf("demo secrets %v, want %v", env.set, demoValues)
	}
	var b strings.Builder
	writeDeliveries(&b, site(t, "../../policies", env.set), targets, time.Now())
	out := b.String()
	for _, want := range []string{
		"# github (scheme github): a signed delivery (200, echoed by the upstream)\n" +
			"GITHUB_WEBHOOK_SECRET=demo-github-secret ./hookguard sign --scheme github --secret-env GITHUB_WEBHOOK_SECRET --content-type application/json --body-file /tmp/payload.json > /tmp/hookguard-headers.txt && " +
			"curl -sS --cacert ca.pem -H @/tmp/hookguard-headers.txt -H 'Content-Type: application/json' --data-binary @/tmp/payload.json https://localhost:8443/webhooks/github; echo\n" +
			"# The same delivery again (409 replayed):\n" +
			"curl -sS --cacert ca.pem -H @/tmp/hookguard-headers.txt -H 'Content-Type: application/json' --data-binary @/tmp/payload.json https://localhost:8443/webhooks/github; echo\n" +
			"# Without its signature or token (401 signature_missing):\n" +
			"curl -sS --cacert ca.pem -H 'Content-Type: application/json' --data-binary @/tmp/payload.json https://localhost:8443/webhooks/github; echo\n",
		"# gitlab (scheme token): its token (200; the token is not forwarded)\n" +
			`curl -sS --cacert ca.pem -H "X-Gitlab-Token: demo-gitlab-token" -H 'Content-Type: application/json' --data-binary @/tmp/payload.json https://localhost:8443/webhooks/gitlab; echo` + "\n",
		"# partner (scheme token): its token (200; the token is not forwarded)\n" +
			`curl -sS --cacert ca.pem --cert client.pem --key client-key.pem -H "Authorization: Bearer demo-partner-token" -H 'Content-Type: application/json' --data-binary @/tmp/payload.json https://localhost:8444/webhooks/partner; echo` + "\n" +
			"# ...and without a client certificate, on the plain listener (401 client_certificate_required):\n" +
			`curl -sS --cacert ca.pem -H "Authorization: Bearer demo-partner-token" -H 'Content-Type: application/json' --data-binary @/tmp/payload.json https://localhost:8443/webhooks/partner; echo` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lines lack\n%s\nin\n%s", want, out)
		}
	}
	if strings.Count(out, "409 replayed") != 1 || strings.Count(out, "signature_missing") != 1 {
		t.Errorf("the replay and unsigned lines are not shown once each:\n%s", out)
	}
}

// TestDeliveriesOfOtherPolicies checks that another directory gets lines
// for its own endpoints: signed for the schemes hookguard sign can sign,
// the generic hmac scheme included; a plain note for an asymmetric scheme;
// and a user's own secret referenced, never printed.
func TestDeliveriesOfOtherPolicies(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"discord.yaml", "hmac.yaml", "stripe.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../policies/providers", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DISCORD_PUBLIC_KEY", hex.EncodeToString(pub))
	t.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_users-own")
	t.Setenv("ACME_WEBHOOK_SECRET", "")
	env := &demoEnv{set: map[string]string{}}
	targets, err := loadTargets(dir, env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(env.set, map[string]string{"ACME_WEBHOOK_SECRET": "demo-acme-webhook-secret"}) {
		t.Errorf("demo secrets %v", env.set)
	}
	var b strings.Builder
	writeDeliveries(&b, site(t, "policies/acme", env.set), targets, time.Now())
	out := b.String()
	for _, want := range []string{
		"# acme (scheme hmac): a signed delivery (200, echoed by the upstream)\n" +
			"ACME_WEBHOOK_SECRET=demo-acme-webhook-secret ./hookguard sign --scheme hmac --secret-env ACME_WEBHOOK_SECRET --policies policies/acme --endpoint acme --content-type application/json --body-file /tmp/payload.json > /tmp/hookguard-headers.txt && " +
			"curl -sS --cacert ca.pem -H @/tmp/hookguard-headers.txt -H 'Content-Type: application/json' --data-binary @/tmp/payload.json https://localhost:8443/webhooks/acme; echo\n",
		"# discord (scheme discord): the demo cannot make a delivery it accepts (",
		"Send one from the provider, or sign one yourself: see hookguard sign -h (--private-key-file for an asymmetric scheme, --url for one that signs the URL)\n",
		"# stripe (scheme stripe): a signed delivery (200, echoed by the upstream)\n" +
			"./hookguard sign --scheme stripe --secret-env STRIPE_WEBHOOK_SECRET --content-type application/json --body-file /tmp/payload.json > /tmp/hookguard-headers.txt && " +
			"curl -sS --cacert ca.pem -H @/tmp/hookguard-headers.txt -H 'Content-Type: application/json' --data-binary @/tmp/payload.json https://localhost:8443/webhooks/stripe; echo\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lines lack\n%s\nin\n%s", want, out)
		}
	}
	if strings.Contains(out, "/webhooks/github") || strings.Contains(out, "whsec_users-own") {
		t.Errorf("lines of the example policies, or the user's secret:\n%s", out)
	}
}

// TestLoadErrorNamesTheVariables checks that a directory whose public keys
// the demo cannot make up stops the demo with the variables to export.
func TestLoadErrorNamesTheVariables(t *testing.T) {
	for _, v := range []string{"DISCORD_PUBLIC_KEY", "STRIPE_WEBHOOK_SECRET"} {
		t.Setenv(v, "")
	}
	dir := t.TempDir()
	for _, f := range []string{"discord.yaml", "stripe.yaml"} {
		b, _ := os.ReadFile(filepath.Join("../../policies/providers", f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	_, err := loadTargets(dir, &demoEnv{set: map[string]string{}})
	if err == nil || !strings.Contains(err.Error(), "do not load with demo values for DISCORD_PUBLIC_KEY: export real ones") ||
		!strings.Contains(err.Error(), `discord.yaml:`) || strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") {
		t.Errorf("error %v", err)
	}
}

// A route of the demo's Envoy that names another endpoint takes the path
// away from an endpoint of the same path; one without a match has none.
func TestUnreachableEndpoints(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("endpoints:\n"+
		"- {name: gh, match: {path_prefix: /webhooks/github/org}, verify: {github: {secrets: [{env: HG_DEMO_TEST}]}}}\n"+
		"- {name: byname, verify: {github: {secrets: [{env: HG_DEMO_TEST}]}}}\n"), 0o644)
	t.Setenv("HG_DEMO_TEST", "s")
	targets, err := loadTargets(dir, &demoEnv{set: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeDeliveries(&b, site(t, dir, nil), targets, time.Now())
	for _, want := range []string{
		"# byname (scheme github): it has no match, so only an Envoy route naming it",
		"# gh (scheme github): the demo's Envoy (envoy/envoy.yaml.tmpl) routes /webhooks/github to endpoint github by name, so /webhooks/github/org is not reachable there\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lines lack %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "curl") {
		t.Errorf("a curl line for an unreachable endpoint:\n%s", b.String())
	}
}
