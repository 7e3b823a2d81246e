package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestSignerIsHMAC(t *testing.T) {
	secret := []byte("bench-secret")
	prefix := make([]byte, 1000)
	for i := range prefix {
		prefix[i] = byte(i)
	}
	s, err := newSigner(secret, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, tail := range []string{"", "x", `"seq":"0000000000000001"}`} {
		m := hmac.New(sha256.New, secret)
		m.Write(prefix)
		m.Write([]byte(tail))
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		if got := string(s.sign(nil, []byte(tail))); got != want {
			t.Errorf("tail %q: %s, want %s", tail, got, want)
		}
	}
}
