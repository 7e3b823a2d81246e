package main

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
)

// signer computes GitHub's X-Hub-Signature-256 of bodies that share a long
// prefix and differ in a short tail: HMAC-SHA256 with the inner hash's
// state after the key and the prefix computed once. Every request then
// carries a fresh, real signature over its whole body while the load
// generator hashes only the tail, leaving the machine's CPU to the servers
// being measured.
type signer struct {
	inner, outer []byte // hash states after key^ipad+prefix and key^opad
}

func newSigner(secret, prefix []byte) (*signer, error) {
	if len(secret) > sha256.BlockSize {
		return nil, fmt.Errorf("secret longer than %d bytes", sha256.BlockSize)
	}
	var ipad, opad [sha256.BlockSize]byte
	copy(ipad[:], secret)
	copy(opad[:], secret)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	state := func(parts ...[]byte) []byte {
		h := sha256.New()
		for _, p := range parts {
			h.Write(p)
		}
		b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic(err)
		}
		return b
	}
	return &signer{inner: state(ipad[:], prefix), outer: state(opad[:])}, nil
}

// sign appends "sha256=" and the hex HMAC of prefix+tail to dst.
func (s *signer) sign(dst, tail []byte) []byte {
	h := resume(s.inner)
	h.Write(tail)
	var sum [sha256.Size]byte
	inner := h.Sum(sum[:0])
	o := resume(s.outer)
	o.Write(inner)
	mac := o.Sum(sum[:0])
	dst = append(dst, "sha256="...)
	return hex.AppendEncode(dst, mac)
}

func resume(state []byte) hash.Hash {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		panic(err)
	}
	return h
}
