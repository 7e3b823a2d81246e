package verify

import (
	"reflect"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// serializeDictionary writes members back as a structured dictionary.
func serializeDictionary(ms []sfMember) string {
	var b []byte
	for i, m := range ms {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, m.key...)
		switch {
		case m.isList:
			b = append(b, '=')
			b = appendSFInnerList(b, m.inner, m.item.params)
		case m.item.bare.kind == sfBoolean && m.item.bare.bool:
			b = appendSFParams(b, m.item.params)
		default:
			b = append(b, '=')
			b = appendSFItem(b, m.item)
		}
	}
	return string(b)
}

func FuzzSFDictionary(f *testing.F) {
	f.Add(`sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`)
	f.Add(`sig1=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:, sig2=?0;a=1.5;b=tok/en:x`)
	f.Add(`a, b;x, c=("q\"\\" 1 -2.25 ?1 :AA==:);p`)
	f.Add(`a=(`)
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := parseSFDictionary(s)
		if err != nil {
			return
		}
		if len(ms) > maxSFMembers {
			t.Fatalf("%d members", len(ms))
		}
		for _, m := range ms {
			if len(m.inner) > maxSFInnerList || len(m.item.params) > maxSFParameters {
				t.Fatalf("member %q too large", m.key)
			}
		}
		// What hookguard serializes (the @signature-params line) must
		// parse back to the same structure.
		again, err := parseSFDictionary(serializeDictionary(ms))
		if err != nil {
			t.Fatalf("serialization of %q does not parse: %v", s, err)
		}
		if !reflect.DeepEqual(normalize(ms), normalize(again)) {
			t.Fatalf("round trip of %q changed it", s)
		}
	})
}

// normalize makes empty and nil slices compare equal.
func normalize(ms []sfMember) []sfMember {
	out := make([]sfMember, len(ms))
	for i, m := range ms {
		m.item.params = append([]sfParam{}, m.item.params...)
		var inner []sfItem
		for _, it := range m.inner {
			it.params = append([]sfParam{}, it.params...)
			if it.bare.bytes != nil && len(it.bare.bytes) == 0 {
				it.bare.bytes = nil
			}
			inner = append(inner, it)
		}
		m.inner = inner
		if m.item.bare.bytes != nil && len(m.item.bare.bytes) == 0 {
			m.item.bare.bytes = nil
		}
		out[i] = m
	}
	return out
}

func FuzzContentDigest(f *testing.F) {
	f.Add("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", []byte(rfcBody))
	f.Add("sha-512=:AAAA:, md5=?1", []byte{})
	f.Fuzz(func(t *testing.T, h string, body []byte) {
		if err := checkContentDigest(h, body); err != nil && reasonOf(err) != authz.SignatureInvalid {
			t.Fatalf("reason %v", err)
		}
	})
}

func FuzzHTTPSigVerify(f *testing.F) {
	f.Add(`sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`, `sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`)
	f.Add(`a=("@method" "@query-param";name="x");created=1;expires=2;keyid="test-key-ed25519";alg="ed25519"`, `a=:AAAA:`)
	v, err := NewHTTPMessageSignatures([]HTTPSigKey{
		{KeyID: "test-shared-secret", Algorithm: AlgHMACSHA256, Key: authz.Secret(rfcHMACKey)},
		{KeyID: "test-key-ed25519", Algorithm: AlgEd25519, Key: authz.Secret(rfcEd25519Key)},
	}, []string{"@authority"}, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input, sig string) {
		r := rfcRequest(input, sig)
		got, err := v.Verify(r, t0)
		if err == nil && got.ReplayKey == nil {
			t.Fatal("verified without a replay key")
		}
	})
}
