package verify

import "testing"

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
