package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hookguard/hookguard/authz/verify"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func TestEnumSpellings(t *testing.T) {
	for _, c := range []struct {
		value protoreflect.Enum
		want  string
	}{
		{policyv1.Mode_ENFORCE, "ENFORCE"},
		{policyv1.Mode_DRY_RUN, "DRY_RUN"},
		{policyv1.Mode_MODE_UNSPECIFIED, "MODE_UNSPECIFIED"},
		{policyv1.HMACAlgorithm_HMAC_ALGORITHM_UNSPECIFIED, ""},
		{policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA256, "sha256 SHA256"},
		{policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64URL, "base64url BASE64URL"},
		{policyv1.TimestampUnit_TIMESTAMP_UNIT_MS, "ms MS"},
		{policyv1.HTTPSignatureAlgorithm_HTTP_SIGNATURE_ALGORITHM_ECDSA_P256_SHA256, "ecdsa-p256-sha256 ECDSA-P256-SHA256"},
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
	for _, alg := range []string{"hmac-sha256", "HMAC-SHA256"} {
		if _, err := load(t, "http_message_signatures: {keys: [{keyid: k, algorithm: "+alg+", key: {env: HTTPSIG_KEY}}]}"); err != nil {
			t.Errorf("algorithm %s: %v", alg, err)
		}
	}
	for _, c := range []struct{ verifyBlock, want string }{
		{hmac + "encoding: Hex}", "verify.hmac.encoding: must be one of hex, base64, base64url"},
		{hmac + "algorithm: HMAC_ALGORITHM_SHA256}", "verify.hmac.algorithm: must be one of sha1, sha256, sha512"},
		{hmac + "timestamp_unit: us, tolerance: soon}", "verify.hmac.timestamp_unit: must be one of s, ms"},
		{"http_message_signatures: {keys: [{keyid: k, algorithm: hmac_sha256, key: {env: HTTPSIG_KEY}}]}",
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

// TestCheckedTreeKeepsNumbers: the tree checkFields respells encodes back
// with its numbers as written, which a float64 could not hold.
func TestCheckedTreeKeepsNumbers(t *testing.T) {
	raw := []byte(`{"payload":{"max_bytes":9007199254740993},"verify":{"hmac":{"algorithm":"SHA1"}}}`)
	tree, err := decodeTree(raw)
	if err != nil {
		t.Fatal(err)
	}
	checkFields((&policyv1.Endpoint{}).ProtoReflect().Descriptor(), tree, "", func(field, msg string) { t.Errorf("%s: %s", field, msg) })
	out, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"payload":{"max_bytes":9007199254740993},"verify":{"hmac":{"algorithm":"HMAC_ALGORITHM_SHA1"}}}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}
