package verify

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// RFC 9421 Appendix B keys and request (B.2): PROVIDERS.md vector 8 is
// B.2.5; B.2.6 signs the same request with the Ed25519 test key.
const (
	rfcHMACKey    = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
	rfcEd25519Key = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n"
	rfcBody       = `{"hello": "world"}`
)

func rfcRequest(input, sig string) *authz.Request {
	return request("POST", "https://example.com/foo?param=Value&Pet=dog", []byte(rfcBody),
		authz.HeaderValue{Name: "Date", Value: "Tue, 20 Apr 2021 02:07:55 GMT"},
		authz.HeaderValue{Name: "Content-Type", Value: "application/json"},
		authz.HeaderValue{Name: "Content-Digest", Value: "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"},
		authz.HeaderValue{Name: "Content-Length", Value: "18"},
		authz.HeaderValue{Name: "Signature-Input", Value: input},
		authz.HeaderValue{Name: "Signature", Value: sig})
}

func TestHTTPSigRFCVectors(t *testing.T) {
	created := time.Unix(1618884473, 0)
	v, err := NewHTTPMessageSignatures([]HTTPSigKey{
		{KeyID: "test-shared-secret", Algorithm: AlgHMACSHA256, Key: authz.Secret(rfcHMACKey)},
		{KeyID: "test-key-ed25519", Algorithm: AlgEd25519, Key: authz.Secret(rfcEd25519Key)},
	}, []string{"@authority"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	const (
		b25Input = `sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`
		b25Sig   = `sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`
		b26Input = `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
		b26Sig   = `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`
	)
	cases := []struct {
		name, input, sig string
		mutate           func(r *authz.Request)
		now              time.Time
		want             authz.Reason
	}{
		{"B.2.5 hmac-sha256", b25Input, b25Sig, nil, created, authz.OK},
		{"B.2.6 ed25519", b26Input, b26Sig, nil, created, authz.OK},
		{"both labels", b25Input + ", " + b26Input, b26Sig + ", " + b25Sig, nil, created, authz.OK},
		{"B.2.5 with alg", strings.Replace(b25Input, `;keyid`, `;alg="hmac-sha256";keyid`, 1), b25Sig, nil, created, authz.SignatureInvalid}, // alg is covered: the base changes
		{"B.2.5 wrong alg", strings.Replace(b25Input, `;keyid`, `;alg="ed25519";keyid`, 1), b25Sig, nil, created, authz.SignatureInvalid},
		{"B.2.5 authority mutated", b25Input, b25Sig, func(r *authz.Request) { r.Host = "example.org" }, created, authz.SignatureInvalid},
		{"B.2.5 authority with default port", b25Input, b25Sig, func(r *authz.Request) { r.Host = "Example.com:443" }, created, authz.OK},
		{"B.2.5 date mutated", b25Input, b25Sig, func(r *authz.Request) { r.Header["date"] = "Tue, 20 Apr 2021 02:07:56 GMT" }, created, authz.SignatureInvalid},
		{"B.2.5 covered header absent", b25Input, b25Sig, func(r *authz.Request) { delete(r.Header, "date") }, created, authz.SignatureInvalid},
		{"B.2.5 created mutated", strings.Replace(b25Input, "1618884473", "1618884474", 1), b25Sig, nil, created, authz.SignatureInvalid},
		{"B.2.5 stale", b25Input, b25Sig, nil, created.Add(5*time.Minute + time.Second), authz.TimestampOutOfWindow},
		{"B.2.5 future", b25Input, b25Sig, nil, created.Add(-5*time.Minute - time.Second), authz.TimestampOutOfWindow},
		{"B.2.5 unknown keyid", strings.Replace(b25Input, "test-shared-secret", "other", 1), b25Sig, nil, created, authz.SignatureInvalid},
		{"B.2.5 label mismatch", b25Input, strings.Replace(b25Sig, "sig-b25", "sig-x", 1), nil, created, authz.SignatureInvalid},
		{"B.2.6 body is not covered", b26Input, b26Sig, func(r *authz.Request) { r.Body = []byte("changed") }, created, authz.OK},
		{"missing Signature", b25Input, "", nil, created, authz.SignatureMissing},
		{"Signature-Input not a dictionary", "sig-b25", b25Sig, nil, created, authz.SignatureInvalid},
		{"Signature not a dictionary", b25Input, "sig-b25=:!!!:", nil, created, authz.SignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rfcRequest(c.input, c.sig)
			if c.sig == "" {
				delete(r.Header, "signature")
			}
			if c.mutate != nil {
				c.mutate(r)
			}
			_, err := v.Verify(r, c.now)
			checkReason(t, err, c.want)
		})
	}
}

func TestHTTPSigRequiredAndDigest(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("shared http signature key"))
	v, err := NewHTTPMessageSignatures([]HTTPSigKey{{KeyID: "k1", Algorithm: AlgHMACSHA256, Key: authz.Secret(secret)}}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"hello": "world"}`)
	base := Message{Body: body, URL: "https://hooks.example.com/hook", KeyID: "k1", Time: t0}
	good, err := Sign("http_message_signatures", authz.Secret(secret), base)
	if err != nil {
		t.Fatal(err)
	}
	sha512Digest := func() string {
		s := sha512.Sum512(body)
		return "sha-512=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
	}()
	// resign signs base with a hand-written covered list and parameters.
	resign := func(components, params string) (input, sig string) {
		in := "sig1=(" + components + ")" + params
		members, err := parseSFDictionary(in)
		if err != nil {
			t.Fatal(err)
		}
		r := request("POST", base.URL, body, authz.HeaderValue{Name: "Content-Digest", Value: ContentDigest(body)})
		b, err := signatureBase(r, members[0])
		if err != nil {
			// A component hookguard cannot rebuild: any signature will do.
			b = []byte(in)
		}
		mac := newMACKey(sha256.New, []byte("shared http signature key")).sum(nil, b)
		return in, "sig1=:" + base64.StdEncoding.EncodeToString(mac) + ":"
	}
	all := `"@method" "@authority" "@path" "content-digest"`
	created := `;created=1700000000;keyid="k1"`
	cases := []struct {
		name       string
		input, sig string
		digest     string
		want       authz.Reason
	}{
		{"signer output", good[1].Value, good[2].Value, good[0].Value, authz.OK},
		{"components in another order", first(resign(`"content-digest" "@path" "@method" "@authority"`, created)), second(resign(`"content-digest" "@path" "@method" "@authority"`, created)), ContentDigest(body), authz.OK},
		{"sha-512 digest", good[1].Value, good[2].Value, sha512Digest, authz.SignatureInvalid}, // the digest header is covered
		{"digest of another body", good[1].Value, good[2].Value, ContentDigest([]byte("other")), authz.SignatureInvalid},
		{"digest absent", good[1].Value, good[2].Value, "", authz.SignatureInvalid},
		{"content-digest not covered", first(resign(`"@method" "@authority" "@path"`, created)), second(resign(`"@method" "@authority" "@path"`, created)), ContentDigest(body), authz.SignatureInvalid},
		{"@path not covered", first(resign(`"@method" "@authority" "content-digest"`, created)), second(resign(`"@method" "@authority" "content-digest"`, created)), ContentDigest(body), authz.SignatureInvalid},
		{"no created", first(resign(all, `;keyid="k1"`)), second(resign(all, `;keyid="k1"`)), ContentDigest(body), authz.SignatureInvalid},
		{"expired", first(resign(all, created+`;expires=1700000000`)), second(resign(all, created+`;expires=1700000000`)), ContentDigest(body), authz.TimestampOutOfWindow},
		{"not yet expired", first(resign(all, created+`;expires=1700000060`)), second(resign(all, created+`;expires=1700000060`)), ContentDigest(body), authz.OK},
		{"nonce and tag kept", first(resign(all, created+`;nonce="abc";tag="app"`)), second(resign(all, created+`;nonce="abc";tag="app"`)), ContentDigest(body), authz.OK},
		{"component with parameters skipped", first(resign(all+` "@query-param";name="a"`, created)), second(resign(all+` "@query-param";name="a"`, created)), ContentDigest(body), authz.SignatureInvalid},
		{"duplicate component skipped", first(resign(all+` "@method"`, created)), second(resign(all+` "@method"`, created)), ContentDigest(body), authz.SignatureInvalid},
		{"a bad label beside a good one", `bad=("@method");created=1;keyid="x", ` + good[1].Value, `bad=:AAAA:, ` + good[2].Value, good[0].Value, authz.OK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request("POST", base.URL, body,
				authz.HeaderValue{Name: "Signature-Input", Value: c.input},
				authz.HeaderValue{Name: "Signature", Value: c.sig})
			if c.digest != "" {
				r.Header["content-digest"] = c.digest
			}
			_, err := v.Verify(r, t0)
			checkReason(t, err, c.want)
		})
	}
}

func first(a, _ string) string  { return a }
func second(_, b string) string { return b }

func TestHTTPSigContentDigest(t *testing.T) {
	body := []byte(rfcBody)
	cases := []struct {
		name, header string
		ok           bool
	}{
		// RFC 9530 section 2 examples for {"hello": "world"}.
		{"RFC sha-256", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", true},
		{"RFC sha-512", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:", true},
		{"both", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:", true},
		{"unknown algorithm beside", "md5=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", true},
		{"one of two wrong", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:AAAA:", false},
		{"only unknown", "md5=:AAAA:", false},
		{"not bytes", `sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="`, false},
		{"empty", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := checkContentDigest(c.header, body); (err == nil) != c.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func init() { schemeSuites["http_message_signatures"] = testHTTPSigSuite }

func testHTTPSigSuite(t *testing.T) {
	edPriv, edPub := discordKeys(3)
	ecPriv, ecPub := p256Keys(t, 3)
	var hmacB64 []authz.Secret
	for _, s := range hmacKeys {
		hmacB64 = append(hmacB64, authz.Secret(base64.StdEncoding.EncodeToString(s)))
	}
	for _, c := range []struct {
		name      string
		alg       string
		priv, pub []authz.Secret
	}{
		{"hmac-sha256", AlgHMACSHA256, hmacB64, hmacB64},
		{"ed25519", AlgEd25519, edPriv, edPub},
		{"ecdsa-p256-sha256", AlgECDSAP256SHA256, ecPriv, ecPub},
	} {
		t.Run(c.name, func(t *testing.T) {
			runSuite(t, suite{
				scheme: "http_message_signatures",
				verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
					var ks []HTTPSigKey
					for _, k := range keys {
						ks = append(ks, HTTPSigKey{KeyID: "sender-key", Algorithm: c.alg, Key: k})
					}
					v, err := NewHTTPMessageSignatures(ks, nil, 0)
					if err != nil {
						t.Fatal(err)
					}
					return v
				},
				signKeys: c.priv, verifyKeys: c.pub,
				msg:       Message{Body: []byte(`{"event":"x"}`), URL: "https://hooks.example.com/hook", KeyID: "sender-key"},
				sigHeader: SignatureHeader,
				tolerance: HTTPSigDefaultTolerance,
				malformed: []string{"sig1=:AAAA:", "sig1=()", "(", "sig1=:!!:", `sig1="abc"`},
			})
		})
	}
}

func TestHTTPSigECDSAReplayKeyIsCanonical(t *testing.T) {
	priv, pub := p256Keys(t, 1)
	v, err := NewHTTPMessageSignatures([]HTTPSigKey{{KeyID: "k", Algorithm: AlgECDSAP256SHA256, Key: pub[0]}}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Sign("http_message_signatures", priv[0], Message{Body: []byte("{}"), URL: "https://hooks.example.com/hook", KeyID: "k", Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	r := request("POST", "https://hooks.example.com/hook", []byte("{}"), h...)
	a, err := v.Verify(r, t0)
	checkReason(t, err, authz.OK)
	// The other spelling: s replaced by n-s.
	members, _ := parseSFDictionary(r.Header["signature"])
	sig := members[0].item.bare.bytes
	s := new(bigInt).SetBytes(sig[32:])
	s.Sub(p256N(), s)
	flipped := append([]byte(nil), sig[:32]...)
	flipped = append(flipped, s.FillBytes(make([]byte, 32))...)
	r2 := clone(r)
	r2.Header["signature"] = "sig1=:" + base64.StdEncoding.EncodeToString(flipped) + ":"
	b, err := v.Verify(r2, t0)
	checkReason(t, err, authz.OK)
	if string(a.ReplayKey) != string(b.ReplayKey) {
		t.Fatal("both spellings of one ECDSA signature must share a replay key")
	}
}

func TestHTTPSigConfig(t *testing.T) {
	good := HTTPSigKey{KeyID: "k", Algorithm: AlgHMACSHA256, Key: authz.Secret("c2VjcmV0")}
	_, edPub := discordKeys(1)
	for _, c := range []struct {
		name     string
		keys     []HTTPSigKey
		required []string
	}{
		{"no keys", nil, nil},
		{"no keyid", []HTTPSigKey{{Algorithm: AlgHMACSHA256, Key: good.Key}}, nil},
		{"unknown algorithm", []HTTPSigKey{{KeyID: "k", Algorithm: "rsa-pss-sha512", Key: good.Key}}, nil},
		{"hmac key not base64", []HTTPSigKey{{KeyID: "k", Algorithm: AlgHMACSHA256, Key: authz.Secret("!!")}}, nil},
		{"ecdsa with an ed25519 key", []HTTPSigKey{{KeyID: "k", Algorithm: AlgECDSAP256SHA256, Key: edPub[0]}}, nil},
		{"unsupported required component", []HTTPSigKey{good}, []string{"@query-param"}},
		{"upper-case header", []HTTPSigKey{good}, []string{"Content-Digest"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewHTTPMessageSignatures(c.keys, c.required, 0); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := NewHTTPMessageSignatures([]HTTPSigKey{{KeyID: "k", Algorithm: AlgEd25519, Key: edPub[0]}}, []string{"@method"}, 0); err != nil {
		t.Fatal(err)
	}
}

// A request may carry several signatures (a key roll, a proxy co-signing).
// Each that verifies gives a replay key, so dropping or reordering them
// leaves a captured request known by at least one remembered key.
func TestHTTPSigSeveralSignaturesGiveEveryKey(t *testing.T) {
	priv, pub := discordKeys(2)
	v, err := NewHTTPMessageSignatures([]HTTPSigKey{
		{KeyID: "a", Algorithm: AlgEd25519, Key: pub[0]},
		{KeyID: "b", Algorithm: AlgEd25519, Key: pub[1]},
	}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://hooks.example.com/hook"
	body := []byte(`{"event":"x"}`)
	signed := func(k authz.Secret, id, label string) (input, sig string) {
		h, err := Sign("http_message_signatures", k, Message{Body: body, URL: url, KeyID: id, Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		for _, hv := range h {
			switch strings.ToLower(hv.Name) {
			case "signature-input":
				input = label + strings.TrimPrefix(hv.Value, "sig1")
			case "signature":
				sig = label + strings.TrimPrefix(hv.Value, "sig1")
			}
		}
		return input, sig
	}
	inA, sigA := signed(priv[0], "a", "sa")
	inB, sigB := signed(priv[1], "b", "sb")
	keysOf := func(input, sig string) map[string]bool {
		t.Helper()
		h, _ := Sign("http_message_signatures", priv[0], Message{Body: body, URL: url, KeyID: "a", Time: t0})
		r := request("POST", url, body, h...)
		r.Header["signature-input"], r.Header["signature"] = input, sig
		got, err := v.Verify(r, t0)
		checkReason(t, err, authz.OK)
		keys := map[string]bool{string(got.ReplayKey): true}
		for _, k := range got.MoreReplayKeys {
			keys[string(k)] = true
		}
		return keys
	}
	both := keysOf(inA+", "+inB, sigA+", "+sigB)
	if len(both) != 2 {
		t.Fatalf("two verifying signatures gave %d keys", len(both))
	}
	swapped := keysOf(inB+", "+inA, sigB+", "+sigA)
	for k := range both {
		if !swapped[k] {
			t.Fatal("reordering the signatures changed the keys")
		}
	}
	for k := range keysOf(inB, sigB) {
		if !both[k] {
			t.Fatal("the second signature alone has a key the pair did not give")
		}
	}
}

// TestHTTPSigWorkPerRequest: however many signatures cover Content-Digest,
// the body is hashed once per algorithm; a request needing more than
// maxHTTPSigChecks signature checks is refused whole, even when some of
// its signatures verified, so that every signature of an accepted request
// gives its replay key.
func TestHTTPSigWorkPerRequest(t *testing.T) {
	keys := map[string][]byte{"k1": []byte("first http signature key"), "k2": []byte("second http signature key")}
	var config []HTTPSigKey
	for _, id := range []string{"k1", "k2"} {
		config = append(config, HTTPSigKey{KeyID: "shared", Algorithm: AlgHMACSHA256, Key: authz.Secret(base64.StdEncoding.EncodeToString(keys[id]))})
	}
	v, err := NewHTTPMessageSignatures(config, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("body ", 10000))
	s256, s512 := sha256.Sum256(body), sha512.Sum512(body)
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(s256[:]) + ":, sha-512=:" + base64.StdEncoding.EncodeToString(s512[:]) + ":"
	// entries returns n signatures under key ("" for forged ones), each
	// with its own nonce so each has its own replay key.
	entries := func(n int, key string) *authz.Request {
		r := request("POST", "https://hooks.example.com/hook", body, authz.HeaderValue{Name: ContentDigestHeader, Value: digest})
		var inputs, sigs []string
		for i := range n {
			label := fmt.Sprintf("s%d", i)
			in := label + `=("@method" "@authority" "@path" "content-digest");created=1700000000;keyid="shared";nonce="` + label + `"`
			members, err := parseSFDictionary(in)
			if err != nil {
				t.Fatal(err)
			}
			mac := make([]byte, sha256.Size)
			if key != "" {
				b, err := signatureBase(r, members[0])
				if err != nil {
					t.Fatal(err)
				}
				mac = newMACKey(sha256.New, keys[key]).sum(nil, b)
			}
			inputs = append(inputs, in)
			sigs = append(sigs, label+"=:"+base64.StdEncoding.EncodeToString(mac)+":")
		}
		r.Header[SignatureInputHeader] = strings.Join(inputs, ", ")
		r.Header[SignatureHeader] = strings.Join(sigs, ", ")
		return r
	}
	cases := []struct {
		name       string
		r          *authz.Request
		want       authz.Reason
		replayKeys int
		checks     int
	}{
		// Two keys share the keyid: a signature under the second costs
		// two checks.
		{"two signatures under the second key", entries(2, "k2"), authz.OK, 2, 4},
		{"four signatures under the first key", entries(4, "k1"), authz.OK, 4, 4},
		{"three signatures under the second key", entries(3, "k2"), authz.SignatureInvalid, 0, 4},
		{"sixteen forged signatures", entries(maxSignatures, ""), authz.SignatureInvalid, 0, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got authz.Verified
			var err error
			w := measure(t, func() { got, err = v.Verify(c.r, t0) })
			checkReason(t, err, c.want)
			if n := len(got.MoreReplayKeys); c.want == authz.OK && n+1 != c.replayKeys {
				t.Errorf("%d replay keys, want %d", n+1, c.replayKeys)
			}
			if c.want != authz.OK && !strings.Contains(err.Error(), "more than 4 signature checks") {
				t.Errorf("error %q does not say the request needs too many checks", err)
			}
			if w.macs != c.checks {
				t.Errorf("%d MACs, want %d", w.macs, c.checks)
			}
			if w.hashed[hashSHA512] != len(body) {
				t.Errorf("SHA-512 read %d bytes for a body of %d: the body is hashed once per algorithm", w.hashed[hashSHA512], len(body))
			}
		})
	}
}
