package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestEnumValuesInAnyCase checks that enum values are taken in the
// spellings policies use, upper and lower case, with - for _, wherever the
// enum is.
func TestEnumValuesInAnyCase(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.yaml": `
endpoints:
  - name: lower
    mode: dry-run
    match: {path: /a, methods: [get, Post, POST]}
    rate_limit: {rate: 1/s, per: [endpoint]}
` + stageSecretRef + `
  - name: upper
    mode: ENFORCE
    match: {path_prefix: /b, methods: [OPTIONS]}
    rate_limit: {rate: 1/s, per: [SOURCE, ENDPOINT]}
` + stageSecretRef})
	res, err := Load(dir, Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	lo := res.Policy.Endpoint("lower")
	if !lo.DryRun || !slices.Equal(lo.Match.Methods, []string{"GET", "POST"}) || lo.Match.Path != "/a" {
		t.Errorf("lower: dry run %v, match %+v", lo.DryRun, lo.Match)
	}
	if rl := lo.RateLimit; rl == nil || rl.PerSource || !rl.PerEndpoint {
		t.Errorf("lower: rate limit %+v, want per endpoint only", rl)
	}
	up := res.Policy.Endpoint("upper")
	if up.DryRun || !slices.Equal(up.Match.Methods, []string{"OPTIONS"}) || up.Match.PathPrefix != "/b" {
		t.Errorf("upper: dry run %v, match %+v", up.DryRun, up.Match)
	}
	if rl := up.RateLimit; rl == nil || !rl.PerSource || !rl.PerEndpoint {
		t.Errorf("upper: rate limit %+v, want per source and per endpoint", rl)
	}
}

// TestCheckedFieldsKeepTheRest checks that a refused enum value or a second
// member of a oneof is reported once, in the spelling of the file, and
// that the rest of the endpoint is still decoded and checked.
func TestCheckedFieldsKeepTheRest(t *testing.T) {
	for _, tt := range []struct {
		name, endpoint string
		want           []string
	}{
		{"unspecified mode", "    mode: MODE_UNSPECIFIED\n",
			[]string{`a.yaml:3: endpoint "a": mode: must be one of ENFORCE, DRY_RUN`}},
		{"lower-case mode", "    mode: loud\n",
			[]string{`mode: must be one of enforce, dry_run`}},
		{"mode with a hyphen", "    mode: very-loud\n",
			[]string{`mode: must be one of enforce, dry-run`}},
		{"mode as a number", "    mode: 2\n",
			[]string{`mode: must be one of ENFORCE, DRY_RUN`}},
		{"bad scope beside a bad ttl", "    rate_limit: {rate: 1/s, per: [source, planet]}\n    replay: {ttl: soon}\n",
			[]string{`a.yaml:3: endpoint "a": rate_limit.per[1]: must be one of source, endpoint`, `a.yaml:4: endpoint "a": replay.ttl: invalid duration "soon"`}},
		{"bad method beside a bad host", "    match: {hosts: [\"x.com:443\"], methods: [POST, FETCH]}\n",
			[]string{`match.methods[1]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`, `match.hosts[0]: must be a host name`}},
		{"env and file", "    verify: {github: {secrets: [{env: GITHUB_SECRET, file: /run/secrets/github-old}]}}\n",
			[]string{`endpoint "a": verify.github.secrets[0]: set env or file, not both`}},
		{"path and prefix beside a bad ttl", "    match: {path: /a, path_prefix: /b}\n    replay: {ttl: soon}\n",
			[]string{`a.yaml:3: endpoint "a": match: set path or path_prefix, not both`, `replay.ttl: invalid duration "soon"`}},
		{"empty path", "    match: {path: ''}\n",
			[]string{`match.path: must start with /`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := "endpoints:\n  - name: a\n" + tt.endpoint
			if !strings.Contains(tt.endpoint, "verify:") {
				doc += stageSecretRef
			}
			_, err := Load(writeDir(t, map[string]string{"a.yaml": doc}), Options{Secrets: testSecrets})
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			if len(errs) != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("errors lack %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestLargeNumbersSurviveTheCheck checks that the tree checkFields returns
// holds numbers as written: through a float64, this one would round.
func TestLargeNumbersSurviveTheCheck(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.yaml": "endpoints:\n  - name: a\n" + stageSecretRef + "    payload: {max_bytes: 9007199254740993}\n"})
	res, err := Load(dir, Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Policy.Endpoint("a").Payload.MaxBytes; got != 9007199254740993 {
		t.Errorf("max_bytes %d", got)
	}
}
