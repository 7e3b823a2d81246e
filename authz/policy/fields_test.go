package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hookguard/hookguard/authz/verify"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
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

func TestEnumSpellings(t *testing.T) {
	for _, c := range []struct {
		value protoreflect.Enum
		want  string
	}{
		{policyv1.Endpoint_ENFORCE, "enforce ENFORCE"},
		{policyv1.Endpoint_DRY_RUN, "dry-run dry_run DRY_RUN DRY-RUN"},
		{policyv1.Endpoint_MODE_UNSPECIFIED, ""},
		{policyv1.HMACAlgorithm_HMAC_ALGORITHM_UNSPECIFIED, ""},
		{policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA256, "sha256 SHA256"},
		{policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64URL, "base64url BASE64URL"},
		{policyv1.TimestampUnit_TIMESTAMP_UNIT_MS, "ms MS"},
		{policyv1.HTTPSignatureAlgorithm_HTTP_SIGNATURE_ALGORITHM_ECDSA_P256_SHA256, "ecdsa-p256-sha256 ecdsa_p256_sha256 ECDSA_P256_SHA256 ECDSA-P256-SHA256"},
	} {
		ev := c.value.Descriptor().Values().ByNumber(c.value.Number())
		if got := strings.Join(EnumSpellings(ev), " "); got != c.want {
			t.Errorf("EnumSpellings(%s) = %q, want %q", ev.Name(), got, c.want)
		}
	}
}

// TestEnumValuesInPolicies: a policy writes enum values as EnumSpellings
// says, in lower or upper case, and the value reaches the verifier; any
// other spelling, the proto's own name included, is refused with the
// spellings that would do.
func TestEnumValuesInPolicies(t *testing.T) {
	load := func(t *testing.T, verifyBlock string) (*Result, error) {
		t.Helper()
		dir := t.TempDir()
		doc := "endpoints:\n  - name: ep\n    match: {path: /hook}\n    verify: {" + verifyBlock + "}\n"
		if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(dir, Options{Secrets: providerSecrets{"GITHUB_SECRET": "s3cret", "HTTPSIG_KEY": "c2VjcmV0"}})
	}
	hmac := "hmac: {secrets: [{env: GITHUB_SECRET}], header: x-sig, signed_content: '{timestamp}.{body}', timestamp_header: x-ts, "
	for _, c := range []struct {
		name, fields string
		sigLen       int // length of the signature header value
		tsLen        int // length of the timestamp header value
	}{
		{"defaults", "", 64, 10},
		{"lower case", "algorithm: sha1, encoding: base64, timestamp_unit: ms", 28, 13},
		{"upper case", "algorithm: SHA512, encoding: BASE64URL, timestamp_unit: S", 86, 10},
		{"as the example policy", "algorithm: SHA256, encoding: hex, timestamp_unit: s", 64, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := load(t, hmac+c.fields+"}")
			if err != nil {
				t.Fatal(err)
			}
			h, err := res.Policy.Endpoint("ep").Verifier.(*verify.HMAC).Sign(verify.Message{Body: []byte("{}")})
			if err != nil {
				t.Fatal(err)
			}
			if len(h[0].Value) != c.sigLen || len(h[1].Value) != c.tsLen {
				t.Errorf("signed %q, %q: want %d and %d characters", h[0].Value, h[1].Value, c.sigLen, c.tsLen)
			}
		})
	}
	for _, alg := range []string{"hmac-sha256", "HMAC-SHA256", "hmac_sha256"} {
		if _, err := load(t, "http_message_signatures: {keys: [{keyid: k, algorithm: "+alg+", key: {env: HTTPSIG_KEY}}]}"); err != nil {
			t.Errorf("algorithm %s: %v", alg, err)
		}
	}
	for _, c := range []struct{ verifyBlock, want string }{
		{hmac + "encoding: hexadecimal}", "verify.hmac.encoding: must be one of hex, base64, base64url"},
		{hmac + "algorithm: HMAC_ALGORITHM_SHA256}", "verify.hmac.algorithm: must be one of SHA1, SHA256, SHA512"},
		{hmac + "timestamp_unit: us, tolerance: soon}", "verify.hmac.timestamp_unit: must be one of s, ms"},
		{"http_message_signatures: {keys: [{keyid: k, algorithm: hmac-sha1, key: {env: HTTPSIG_KEY}}]}",
			"verify.http_message_signatures.keys[0].algorithm: must be one of hmac-sha256, ed25519, ecdsa-p256-sha256"},
	} {
		_, err := load(t, c.verifyBlock)
		var errs Errors
		if !errors.As(err, &errs) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.verifyBlock, err, c.want)
		}
	}
	// The rest of an endpoint with a misspelt value is still checked.
	if _, err := load(t, hmac+"timestamp_unit: us, tolerance: soon}"); err == nil || !strings.Contains(err.Error(), "verify.hmac.tolerance: invalid duration") {
		t.Errorf("other errors beside a misspelt value: %v", err)
	}
}
