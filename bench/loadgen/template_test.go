package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
)

// Every filled request is a CheckRequest with its own delivery, a body of
// the size asked for and a valid signature over it, or an invalid one when
// asked.
func TestTemplateFill(t *testing.T) {
	for _, size := range []int{1024, 65536} {
		d, err := newDelivery(size, []byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		tm, err := newTemplate(d)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		var buf []byte
		for n, bad := range []bool{false, false, true} {
			buf = tm.fill(buf, uint64(n+1), bad)
			var req authv3.CheckRequest
			if err := proto.Unmarshal(buf, &req); err != nil {
				t.Fatal(err)
			}
			h := req.GetAttributes().GetRequest().GetHttp()
			if len(h.GetRawBody()) != size {
				t.Errorf("body of %d bytes, want %d", len(h.GetRawBody()), size)
			}
			m := hmac.New(sha256.New, []byte(secret))
			m.Write(h.GetRawBody())
			valid := h.GetHeaders()["x-hub-signature-256"] == "sha256="+hex.EncodeToString(m.Sum(nil))
			if valid == bad {
				t.Errorf("request %d: signature valid %v, want %v", n, valid, !bad)
			}
			id := h.GetHeaders()["x-github-delivery"]
			if seen[id] || len(id) != 36 {
				t.Errorf("delivery id %q repeated or malformed", id)
			}
			seen[id] = true
		}
	}
}

func TestAllowed(t *testing.T) {
	ok, _ := proto.Marshal(&authv3.CheckResponse{})
	if allowed(ok) {
		t.Error("a response without status read as allowed")
	}
}
