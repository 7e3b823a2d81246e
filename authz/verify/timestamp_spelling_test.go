package verify

import (
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// TestTimestampHasOneSpelling: a Unix time has one spelling. With leading
// zeros allowed, a template that puts the timestamp right after the body
// let a body ending in "0" lose it to the timestamp: "amount=100" signed
// at 1700000000 verified as "amount=10" at "01700000000".
func TestTimestampHasOneSpelling(t *testing.T) {
	for s, ok := range map[string]bool{"1700000000": true, "0": true, "01700000000": false, "00": false, "0001": false} {
		if _, got := parseUnix(s, time.Second); got != ok {
			t.Errorf("parseUnix(%q) ok = %v, want %v", s, got, ok)
		}
	}
	h, err := NewHMAC(HMACConfig{Secrets: hmacKeys[:1], Header: "x-sig", SignedContent: "{body}{timestamp}",
		TimestampHeader: "x-ts", Encoding: policyv1.SignatureEncoding_SIGNATURE_ENCODING_HEX})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := h.Sign(Message{Body: []byte("amount=100"), Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	valid := request("POST", "", []byte("amount=100"), signed...)
	if _, err := h.Verify(valid, t0); err != nil {
		t.Fatalf("the delivery itself: %v", err)
	}
	forged := request("POST", "", []byte("amount=10"), signed...)
	forged.Header["x-ts"] = "0" + valid.Header["x-ts"]
	_, err = h.Verify(forged, t0)
	checkReason(t, err, authz.SignatureInvalid)
}
