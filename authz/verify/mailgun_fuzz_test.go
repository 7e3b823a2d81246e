package verify

import (
	"encoding/json"
	"net/url"
	"testing"
)

func FuzzMailgunBody(f *testing.F) {
	f.Add("application/json", []byte(`{"signature":{"timestamp":"1529006854","token":"a8ce","signature":"d227"}}`))
	f.Add("application/x-www-form-urlencoded", []byte("timestamp=1&token=2&signature=3"))
	f.Add("multipart/form-data; boundary=x", []byte("--x--"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		v := NewMailgun(hmacKeys, 0)
		r := request("POST", "", body)
		r.Header["content-type"] = contentType
		got, err := v.Verify(r, t0)
		if err == nil && got.ReplayKey == nil {
			t.Fatal("verified without a replay key")
		}
	})
}

// FuzzMailgunFormMatchesNetURL: the form fields are read as url.ParseQuery
// reads them.
func FuzzMailgunFormMatchesNetURL(f *testing.F) {
	f.Add([]byte("timestamp=1&token=2&signature=3"))
	f.Add([]byte("%74oken=a+b&token=c&x=%zz"))
	f.Add([]byte("signature=1;x&timestamp=%31"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := mailgunFormSignature(body)
		q, err := url.ParseQuery(string(body))
		if err != nil {
			if got != nil {
				t.Fatalf("read %+v where url.ParseQuery fails: %v", got, err)
			}
			return
		}
		want := mailgunSignature{Timestamp: json.Number(q.Get("timestamp")), Token: q.Get("token"), Signature: q.Get("signature")}
		if got == nil || *got != want {
			t.Fatalf("read %+v, url.ParseQuery reads %+v", got, want)
		}
	})
}
