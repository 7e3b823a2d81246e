package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func newHMACT(t *testing.T, c HMACConfig) *HMAC {
	t.Helper()
	v, err := NewHMAC(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHMACConfigurations(t *testing.T) {
	body := []byte(`{"ok":true}`)
	mac := func(h func() hash.Hash, content string) []byte {
		m := hmac.New(h, []byte("s3cret"))
		m.Write([]byte(content))
		return m.Sum(nil)
	}
	ts := "1700000000"
	cases := []struct {
		name    string
		cfg     HMACConfig
		headers map[string]string
		now     time.Time
		want    authz.Reason
	}{
		{"GitHub-like", HMACConfig{Header: "x-sig", Prefix: "sha256="},
			map[string]string{"x-sig": "sha256=" + hex.EncodeToString(mac(sha256.New, string(body)))}, t0, authz.OK},
		{"sha1 base64", HMACConfig{Header: "x-sig", Algorithm: policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA1, Encoding: policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64},
			map[string]string{"x-sig": base64.StdEncoding.EncodeToString(mac(sha1.New, string(body)))}, t0, authz.OK},
		{"sha512 base64url unpadded", HMACConfig{Header: "x-sig", Algorithm: policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA512, Encoding: policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64URL},
			map[string]string{"x-sig": base64.RawURLEncoding.EncodeToString(mac(sha512.New, string(body)))}, t0, authz.OK},
		{"template with id, timestamp, method, path, url", HMACConfig{Header: "x-sig", SignedContent: "{method} {url}|{path}|{id}.{timestamp}.{body}", IDHeader: "x-id", TimestampHeader: "x-ts"},
			map[string]string{"x-sig": hex.EncodeToString(mac(sha256.New, "POST https://hooks.example.com/hook?a=1|/hook|evt_1.1700000000."+string(body))), "x-id": "evt_1", "x-ts": ts}, t0, authz.OK},
		{"timestamp in ms", HMACConfig{Header: "x-sig", SignedContent: "{timestamp}{body}", TimestampHeader: "x-ts", TimestampUnit: policyv1.TimestampUnit_TIMESTAMP_UNIT_MS},
			map[string]string{"x-sig": hex.EncodeToString(mac(sha256.New, "1700000000000"+string(body))), "x-ts": "1700000000000"}, t0, authz.OK},
		{"list with separator, second matches", HMACConfig{Header: "x-sig", Prefix: "v1=", Separator: ","},
			map[string]string{"x-sig": "v0=abc, v1=" + strings.Repeat("00", 32) + ",v1=" + hex.EncodeToString(mac(sha256.New, string(body)))}, t0, authz.OK},
		{"list with space separator", HMACConfig{Header: "x-sig", Prefix: "v1,", Separator: " ", Encoding: policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64},
			map[string]string{"x-sig": "v2,xyz v1," + base64.StdEncoding.EncodeToString(mac(sha256.New, string(body)))}, t0, authz.OK},
		{"without separator a list is one bad signature", HMACConfig{Header: "x-sig", Prefix: "v1="},
			map[string]string{"x-sig": "v1=" + hex.EncodeToString(mac(sha256.New, string(body))) + ",v1=00"}, t0, authz.SignatureInvalid},
		{"too many entries", HMACConfig{Header: "x-sig", Separator: ","},
			map[string]string{"x-sig": strings.Repeat("00,", maxSignatures) + hex.EncodeToString(mac(sha256.New, string(body)))}, t0, authz.SignatureInvalid},
		{"missing prefix", HMACConfig{Header: "x-sig", Prefix: "sha256="},
			map[string]string{"x-sig": hex.EncodeToString(mac(sha256.New, string(body)))}, t0, authz.SignatureInvalid},
		{"stale", HMACConfig{Header: "x-sig", SignedContent: "{timestamp}{body}", TimestampHeader: "x-ts", Tolerance: time.Minute},
			map[string]string{"x-sig": hex.EncodeToString(mac(sha256.New, ts+string(body))), "x-ts": ts}, t0.Add(time.Minute + time.Second), authz.TimestampOutOfWindow},
		{"future", HMACConfig{Header: "x-sig", SignedContent: "{timestamp}{body}", TimestampHeader: "x-ts", Tolerance: time.Minute},
			map[string]string{"x-sig": hex.EncodeToString(mac(sha256.New, ts+string(body))), "x-ts": ts}, t0.Add(-time.Minute - time.Second), authz.TimestampOutOfWindow},
		{"missing id", HMACConfig{Header: "x-sig", SignedContent: "{id}{body}", IDHeader: "x-id"},
			map[string]string{"x-sig": hex.EncodeToString(mac(sha256.New, string(body)))}, t0, authz.SignatureMissing},
		{"wrong encoding", HMACConfig{Header: "x-sig", Encoding: policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64},
			map[string]string{"x-sig": hex.EncodeToString(mac(sha256.New, string(body)))}, t0, authz.SignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Secrets = secrets("other", "s3cret")
			v := newHMACT(t, c.cfg)
			r := request("POST", "https://hooks.example.com/hook?a=1", body)
			for k, val := range c.headers {
				r.Header[k] = val
			}
			got, err := v.Verify(r, c.now)
			checkReason(t, err, c.want)
			if c.want == authz.OK && got.ReplayKey == nil {
				t.Fatal("no replay key")
			}
		})
	}
}

func TestHMACConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  HMACConfig
		want string
	}{
		{"no header", HMACConfig{}, "header"},
		{"algorithm", HMACConfig{Header: "x", Algorithm: 99}, "algorithm"},
		{"encoding", HMACConfig{Header: "x", Encoding: 99}, "encoding"},
		{"no body", HMACConfig{Header: "x", SignedContent: "{timestamp}", TimestampHeader: "t"}, "signed_content"},
		{"unknown placeholder", HMACConfig{Header: "x", SignedContent: "{nonce}{body}"}, "signed_content"},
		{"unclosed", HMACConfig{Header: "x", SignedContent: "{body"}, "signed_content"},
		{"stray brace", HMACConfig{Header: "x", SignedContent: "}{body}"}, "signed_content"},
		{"id without header", HMACConfig{Header: "x", SignedContent: "{id}{body}"}, "id_header"},
		{"timestamp without header", HMACConfig{Header: "x", SignedContent: "{timestamp}{body}"}, "timestamp_header"},
		{"unit", HMACConfig{Header: "x", SignedContent: "{timestamp}{body}", TimestampHeader: "t", TimestampUnit: 99}, "timestamp_unit"},
		// A checked but unsigned timestamp guards nothing.
		{"timestamp not signed", HMACConfig{Header: "x", TimestampHeader: "t"}, "signed_content"},
		{"tolerance without timestamp", HMACConfig{Header: "x", Tolerance: time.Minute}, "tolerance"},
		{"too many parts", HMACConfig{Header: "x", SignedContent: strings.Repeat("a{body}", 9)}, "signed_content"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Secrets = hmacKeys
			_, err := NewHMAC(c.cfg)
			var fe *FieldError
			if err == nil || !strings.HasPrefix(err.Error(), c.want+":") || !errors.As(err, &fe) || fe.Field != c.want {
				t.Fatalf("err = %v, want a %s error", err, c.want)
			}
		})
	}
}

func init() { schemeSuites["hmac"] = testHMACSuite }

func testHMACSuite(t *testing.T) {
	cfg := HMACConfig{Header: "x-acme-signature", Prefix: "v1=", Separator: ",", SignedContent: "{id}.{timestamp}.{body}", IDHeader: "x-acme-id", TimestampHeader: "x-acme-timestamp"}
	mk := func(t *testing.T, keys ...authz.Secret) *HMAC {
		c := cfg
		c.Secrets = keys
		return newHMACT(t, c)
	}
	runSuite(t, suite{
		scheme: "hmac",
		// The generic scheme has no registered signer, its format being
		// the policy's: the verifier signs.
		signer: func(key authz.Secret, m Message) ([]authz.HeaderValue, error) {
			return mk(t, key).Sign(m)
		},
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return mk(t, keys...)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"a":1}`)},
		sigHeader: "x-acme-signature", tsHeader: "x-acme-timestamp",
		tolerance: HMACDefaultTolerance,
		malformed: []string{"v1=", "v1=zz", "v2=" + strings.Repeat("00", 32), ",,,"},
	})
}
