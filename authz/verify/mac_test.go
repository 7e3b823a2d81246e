package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// During a key roll a provider lists one signature per secret. Which of
// them hookguard matches, and with which of its secrets, must not change the
// replay key: otherwise dropping the first signature from a captured
// delivery, or reordering the policy's secrets, would make it look new.
func TestReplayKeyIgnoresWhichSignatureMatched(t *testing.T) {
	newSecret, oldSecret := authz.Secret("whsec_new"), authz.Secret("whsec_old")
	body := []byte(`{"id":"evt_1"}`)
	ts := strconv.FormatInt(t0.Unix(), 10)
	sig := func(secret authz.Secret) string {
		return hex.EncodeToString(newMACKey(sha256.New, secret).sum(nil, []byte(ts), dot, body))
	}
	verify := func(v *Stripe, header string) []byte {
		t.Helper()
		got, err := v.Verify(request("POST", "", body, authz.HeaderValue{Name: "Stripe-Signature", Value: header}), t0.Add(time.Second))
		if err != nil {
			t.Fatalf("%s: %v", header, err)
		}
		return got.ReplayKey
	}
	newFirst := NewStripe([]authz.Secret{newSecret, oldSecret}, 0)
	oldFirst := NewStripe([]authz.Secret{oldSecret, newSecret}, 0)
	both := "t=" + ts + ",v1=" + sig(newSecret) + ",v1=" + sig(oldSecret)
	keys := [][]byte{
		verify(newFirst, both),
		verify(newFirst, "t="+ts+",v1="+sig(oldSecret)),
		verify(newFirst, "t="+ts+",v1="+sig(newSecret)),
		verify(oldFirst, both),
	}
	for i, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Errorf("variant %d has replay key %x, want %x", i+1, k, keys[0])
		}
	}
}
