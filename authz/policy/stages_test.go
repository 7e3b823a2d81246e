package policy

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

const stageSecretRef = "    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}\n"

func TestStagesCompile(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"defaults.yaml": `
defaults:
  source:
    allow_cidrs: [192.0.2.0/24, "2001:db8::/32"]
    ip_lists: {github: lists/github.txt}
  rate_limit: {rate: 600/m, per: [source, endpoint]}
endpoints: []
`,
		"a.yaml": `
endpoints:
  - name: inherits
    match: {path: /a}
` + stageSecretRef + `
  - name: overrides
    match: {path: /b}
` + stageSecretRef + `    source: {deny_cidrs: [198.51.100.7]}
    rate_limit: {disabled: true}
    client_identity:
      trust_domains: [example.org]
      sha256_fingerprints: ["AB:` + strings.Repeat("cd", 31) + `"]
    payload:
      max_bytes: 1024
      content_types: [Application/JSON]
      schemas:
        header: X-GitHub-Event
        by_value: {push: schemas/push.json}
`,
	})
	os.Mkdir(filepath.Join(dir, "lists"), 0o700)
	os.WriteFile(filepath.Join(dir, "lists", "github.txt"), []byte("# GitHub hooks\n140.82.112.0/20\n\n185.199.108.0/22 # pages\n"), 0o600)
	os.Mkdir(filepath.Join(dir, "schemas"), 0o700)
	os.WriteFile(filepath.Join(dir, "schemas", "push.json"), []byte(`{"type":"object","required":["ref"]}`), 0o600)

	res, err := Load(dir, Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	in := res.Policy.Endpoint("inherits")
	if in.Source == nil || in.RateLimit == nil || in.Identity != nil || in.Payload != nil {
		t.Fatalf("inherits: %+v", in)
	}
	for addr, want := range map[string]bool{"192.0.2.9": true, "140.82.112.1": true, "185.199.111.255": true, "2001:db8::1": true, "203.0.113.1": false} {
		if got := in.Source.Allow.Contains(mustAddr(addr)); got != want {
			t.Errorf("inherited allow %s = %v", addr, got)
		}
	}
	if rl := in.RateLimit; rl.Limit.Rate != 10 || rl.Limit.Burst != 10 || !rl.PerSource || !rl.PerEndpoint {
		t.Errorf("rate limit %+v", rl)
	}
	if len(res.DataFiles) != 2 || !strings.HasSuffix(res.DataFiles[0], "github.txt") || !strings.HasSuffix(res.DataFiles[1], "push.json") {
		t.Errorf("data files %v: want the IP list and the schema, so a watcher reloads on their change", res.DataFiles)
	}
	// A changed list is a changed set, though no policy file changed.
	os.WriteFile(filepath.Join(dir, "lists", "github.txt"), []byte("140.82.112.0/20\n"), 0o600)
	again, err := Load(dir, Options{Secrets: testSecrets})
	if err != nil || again.SameAs(res) || again.Digest != res.Digest {
		t.Errorf("after editing the IP list: err %v, same %v", err, again.SameAs(res))
	}
	ov := res.Policy.Endpoint("overrides")
	if ov.Source.Allow != nil || !ov.Source.Deny.Contains(mustAddr("198.51.100.7")) {
		t.Errorf("overriding source %+v", ov.Source)
	}
	if ov.RateLimit != nil {
		t.Error("rate_limit {disabled: true} kept the default")
	}
	if ov.Identity == nil || len(ov.Identity.TrustDomains) != 1 || len(ov.Identity.Fingerprints) != 1 {
		t.Errorf("identity %+v", ov.Identity)
	}
	p := ov.Payload
	if p == nil || p.MaxBytes != 1024 || p.ContentTypes[0] != "application/json" || p.Schemas.Header != "x-github-event" || p.Schemas.ByValue["push"] == nil {
		t.Errorf("payload %+v", p)
	}
}

func TestStageErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"bad cidrs", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    source: {allow_cidrs: [10.0.0.0/33, banana], deny_cidrs: ['::1/129']}\n"},
			[]string{`endpoint "a": source.allow_cidrs[0]: invalid CIDR "10.0.0.0/33"`, `source.allow_cidrs[1]: invalid address "banana"`, `source.deny_cidrs[0]: invalid CIDR`}},
		{"missing ip list", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    source: {ip_lists: {github: nope.txt}}\n"},
			[]string{`endpoint "a": source.ip_lists.github: cannot read IP list`}},
		{"bad ip list line", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    source: {ip_lists: {github: list.txt}}\n", "list.txt": "10.0.0.0/8\n# ok\nnot-an-ip\n"},
			[]string{`source.ip_lists.github: `, `list.txt:3: invalid address "not-an-ip"`}},
		{"bad rate", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    rate_limit: {rate: 10/fortnight}\n  - name: b\n" + stageSecretRef + "    rate_limit: {per: [planet]}\n"},
			[]string{`endpoint "a": rate_limit.rate: invalid rate "10/fortnight": the unit is s, m or h`, `endpoint "b": rate_limit.rate: required`}},
		{"rates that are not numbers", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    rate_limit: {rate: NaN/s}\n  - name: b\n" + stageSecretRef + "    rate_limit: {rate: Inf/m}\n  - name: c\n" + stageSecretRef + "    rate_limit: {rate: 1e9/s}\n"},
			[]string{`endpoint "a": rate_limit.rate: invalid rate "NaN/s"`, `endpoint "b": rate_limit.rate: invalid rate "Inf/m"`, `endpoint "c": rate_limit.rate: invalid rate "1e9/s"`}},
		{"bad failure budget", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    rate_limit: {rate: 1/s, failures: {rate: 3/week}}\n  - name: b\n" + stageSecretRef + "    rate_limit: {rate: 1/s, failures: {rates: 1/s}}\n"},
			[]string{`endpoint "a": rate_limit.failures.rate: invalid rate "3/week": the unit is s, m or h`, `rate_limit.failures.rates: unknown field "rates"; did you mean rate?`}},
		{"bad per", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    rate_limit: {rate: 1/s, per: [planet]}\n"},
			[]string{`rate_limit.per[0]: must be one of source, endpoint`}},
		{"bad identity", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    client_identity: {trust_domains: ['spiffe://example.org'], sha256_fingerprints: [abc]}\n"},
			[]string{`client_identity.trust_domains[0]: a trust domain is a name`, `client_identity.sha256_fingerprints[0]: must be 64 hex digits`}},
		{"bad payload", map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    payload: {content_types: [json], schemas: {by_value: {push: push.json}}}\n"},
			[]string{`payload.content_types[0]: must be a media type`, `payload.schemas.by_value: needs payload.schemas.header`}},
		{"schema error names file and pointer", map[string]string{
			"a.yaml":      "endpoints:\n  - name: a\n" + stageSecretRef + "    payload: {schemas: {default: schema.json}}\n",
			"schema.json": `{"type":"object","properties":{"n":{"type":"integer","minimum":"zero"}}}`},
			[]string{`endpoint "a": payload.schemas.default: schema schema.json: `, `/properties/n/minimum`}},
		{"schema not json", map[string]string{
			"a.yaml":      "endpoints:\n  - name: a\n" + stageSecretRef + "    payload: {schemas: {default: schema.json}}\n",
			"schema.json": `{"type":`},
			[]string{`endpoint "a": payload.schemas.default: schema schema.json: `}},
		{"errors in defaults reported once", map[string]string{
			"d.yaml": "defaults:\n  rate_limit: {rate: fast}\n",
			"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "  - name: b\n" + stageSecretRef},
			[]string{`d.yaml:2: defaults.rate_limit.rate: invalid rate "fast"`}},
		{"two defaults", map[string]string{"a.yaml": "defaults: {}\n", "b.yaml": "defaults: {}\n"},
			[]string{`b.yaml:1: defaults: defaults already set in `}},
		{"unknown field in defaults", map[string]string{"a.yaml": "defaults:\n  sources: {}\n"},
			[]string{`a.yaml:2: defaults.sources: unknown field "sources"; did you mean source? (valid: source, client_identity, rate_limit, payload)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeDir(t, tt.files), Options{Secrets: testSecrets})
			if err == nil {
				t.Fatal("loaded")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("errors lack %q:\n%v", want, err)
				}
			}
			if tt.name == "errors in defaults reported once" && strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("a default's error repeated per endpoint:\n%v", err)
			}
		})
	}
}

// The failure budget is on wherever a rate limit is, shaped like the block
// unless it says otherwise; a rate of its own brings its own default burst.
func TestFailureBudgetCompile(t *testing.T) {
	for _, tt := range []struct {
		block string
		want  *authz.Limit // nil: no failure budget
	}{
		{"{rate: 60/m, burst: 20}", &authz.Limit{Rate: 1, Burst: 20}},
		{"{rate: 60/m, burst: 20, per: [endpoint], max_keys: 50}", &authz.Limit{Rate: 1, Burst: 20, MaxKeys: 50}},
		{"{rate: 60/m, burst: 20, failures: {burst: 3}}", &authz.Limit{Rate: 1, Burst: 3}},
		{"{rate: 60/m, burst: 20, failures: {rate: 6/m}}", &authz.Limit{Rate: 0.1, Burst: 1}},
		{"{rate: 60/m, burst: 20, failures: {rate: 120/s}}", &authz.Limit{Rate: 120, Burst: 120}},
		{"{rate: 60/m, burst: 20, failures: {rate: 6/h, burst: 2}}", &authz.Limit{Rate: 6.0 / 3600, Burst: 2}},
		{"{rate: 60/m, burst: 20, failures: {disabled: true}}", nil},
		{"{rate: 60/m, failures: {}}", &authz.Limit{Rate: 1, Burst: 1}},
	} {
		dir := writeDir(t, map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    rate_limit: " + tt.block + "\n"})
		res, err := Load(dir, Options{Secrets: testSecrets})
		if err != nil {
			t.Fatalf("%s: %v", tt.block, err)
		}
		got := res.Policy.Endpoint("a").RateLimit.Failures
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: failures %+v, want %+v", tt.block, got, tt.want)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestStateFallbackCompile(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.yaml": `
endpoints:
  - name: default
    match: {path: /a}
` + stageSecretRef + `
  - name: none
    match: {path: /b}
    state_fallback: none
` + stageSecretRef + `
  - name: local
    match: {path: /c}
    state_fallback: LOCAL
` + stageSecretRef})
	res, err := Load(dir, Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"default": false, "none": false, "local": true} {
		if got := res.Policy.Endpoint(name).StateFallback; got != want {
			t.Errorf("%s: StateFallback %v, want %v", name, got, want)
		}
	}
	dir = writeDir(t, map[string]string{"a.yaml": `
endpoints:
  - name: bad
    match: {path: /a}
    state_fallback: allow
` + stageSecretRef})
	if _, err := Load(dir, Options{Secrets: testSecrets}); err == nil || !strings.Contains(err.Error(), "state_fallback") {
		t.Fatalf("state_fallback: allow: %v", err)
	}
}
