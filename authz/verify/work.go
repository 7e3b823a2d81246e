package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"math/big"
)

// What a request costs to verify. A stranger chooses how many signatures a
// request lists and how large its body is, so no verifier may do work that
// grows with the number of signatures: the body goes through a hash once
// per configured key (and signed-content variant, for Twilio), or once per
// digest algorithm, and public-key checks are bounded per request. Every
// hash over request content, every signature check and every decoding of a
// body goes through the counted paths below, so that TestForgedCost can
// hold each scheme's most expensive forged request to a bound; nothing in
// the program sets the meter.

// hashKind names a hash function whose input is counted.
type hashKind uint8

const (
	hashSHA1 hashKind = iota
	hashSHA256
	hashSHA512
	numHashKinds
)

// hashKindOf returns the kind of a hash by its output size.
func hashKindOf(size int) hashKind {
	switch size {
	case 20:
		return hashSHA1
	case 64:
		return hashSHA512
	}
	return hashSHA256
}

// work is what verifications did.
type work struct {
	// hashed is the bytes each hash function read, MACs included.
	hashed [numHashKinds]int
	// macs counts HMAC computations.
	macs int
	// ed25519 and ecdsa count public-key signature checks.
	ed25519, ecdsa int
	// decodedJSON and decodedForm are the bytes given to encoding/json
	// and to a urlencoded form parser; scanned the bytes skipped by
	// jsonMember.
	decodedJSON, decodedForm, scanned int
}

// meter counts the work of verifications when set. Only tests set it,
// while no verification runs concurrently; nil, counting costs a request a
// few branches.
var meter *work

func (w *work) hash(k hashKind, n int) {
	if w != nil {
		w.hashed[k] += n
	}
}

func (w *work) mac(k hashKind, n int) {
	if w != nil {
		w.macs++
		w.hashed[k] += n
	}
}

func (w *work) json(n int) {
	if w != nil {
		w.decodedJSON += n
	}
}

func (w *work) form(n int) {
	if w != nil {
		w.decodedForm += n
	}
}

func (w *work) scan(n int) {
	if w != nil {
		w.scanned += n
	}
}

// verifyEd25519 is ed25519.Verify, counted: a check hashes the signature's
// R, the key and the whole message with SHA-512.
func verifyEd25519(pk ed25519.PublicKey, msg, sig []byte) bool {
	if meter != nil {
		meter.ed25519++
		meter.hashed[hashSHA512] += 64 + len(msg)
	}
	return ed25519.Verify(pk, msg, sig)
}

// verifyECDSA is ecdsa.Verify of a digest, counted.
func verifyECDSA(pk *ecdsa.PublicKey, digest []byte, r, s *big.Int) bool {
	if meter != nil {
		meter.ecdsa++
	}
	return ecdsa.Verify(pk, digest, r, s)
}

// verifyECDSAASN1 is ecdsa.VerifyASN1 of a digest, counted.
func verifyECDSAASN1(pk *ecdsa.PublicKey, digest, sig []byte) bool {
	if meter != nil {
		meter.ecdsa++
	}
	return ecdsa.VerifyASN1(pk, digest, sig)
}
