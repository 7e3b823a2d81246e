package authz_test

import (
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

func TestNonceClaimText(t *testing.T) {
	c := &authz.NonceClaim{Endpoint: "github", Token: authz.NonceToken{0xab, 0xcd, 15: 0xef},
		Keys: []authz.NonceKey{authz.NewNonceKey("github", []byte("a")), authz.NewNonceKey("github", []byte("b"))}}
	text, err := c.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != len("github")+1+32+2*65 || !strings.HasPrefix(string(text), "github:") {
		t.Fatalf("text form %q", text)
	}
	var back authz.NonceClaim
	if err := back.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	if back.Endpoint != c.Endpoint || back.Token != c.Token || len(back.Keys) != 2 || back.Keys[0] != c.Keys[0] || back.Keys[1] != c.Keys[1] {
		t.Fatalf("round trip: %+v, want %+v", back, c)
	}

	tooMany := &authz.NonceClaim{Endpoint: "e", Keys: make([]authz.NonceKey, authz.MaxClaimKeys+1)}
	for _, bad := range []*authz.NonceClaim{tooMany, {Endpoint: "e"}, {Endpoint: "", Keys: c.Keys}, {Endpoint: "a:b", Keys: c.Keys}} {
		if _, err := bad.MarshalText(); err == nil {
			t.Errorf("MarshalText of %d keys on %q: no error", len(bad.Keys), bad.Endpoint)
		}
	}
	s := string(text)
	token := s[len("github:") : len("github:")+32]
	for name, bad := range map[string]string{
		"empty":          "",
		"no keys":        "github:" + token,
		"short key":      s[:len(s)-2],
		"upper-case hex": strings.Replace(s, token, strings.ToUpper(token), 1),
		"not hex":        strings.Replace(s, token, strings.Repeat("zz", 16), 1),
		"empty endpoint": s[len("github"):],
		"too many keys":  s + strings.Repeat(s[strings.LastIndexByte(s, ':'):], authz.MaxClaimKeys),
	} {
		var c authz.NonceClaim
		if err := c.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%s: %q accepted", name, bad)
		}
	}
}
