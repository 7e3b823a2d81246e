package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// FuzzHMACSignatureList feeds the t=,v1= list parser (Calendly's preset)
// arbitrary headers: it never panics, refuses what does not verify, and
// accepts only the signature of the signed timestamp and body.
func FuzzHMACSignatureList(f *testing.F) {
	f.Add("t=1700000000,v1=" + strings.Repeat("a", 64))
	f.Add("t=1700000000,t=1700000001,v1=00")
	f.Add(",,, t= ,v1=,")
	f.Add(strings.Repeat("v1=a,", 20))
	f.Add("t=1700000000,v1=" + hx(hm(sha256.New, "fuzz-key", "1700000000.", vbody)))
	v := buildVectorProvider(f, providerVector{provider: "calendly"}, "fuzz-key")
	f.Fuzz(func(t *testing.T, header string) {
		r := request("POST", "", []byte(vbody), authz.HeaderValue{Name: "calendly-webhook-signature", Value: header})
		got, err := v.Verify(r, vectNow)
		if err != nil {
			return
		}
		if !strings.Contains(header, hx(hm(sha256.New, "fuzz-key", "1700000000.", vbody))) && !strings.Contains(strings.ToLower(header), hx(hm(sha256.New, "fuzz-key", "1700000000.", vbody))) {
			t.Fatalf("accepted %q", header)
		}
		if got.ReplayKey == nil {
			t.Fatal("no replay key")
		}
	})
}

// FuzzCRCHandshake: whatever the query, the CRC answers only tokens of X's
// shape, and its answer is never the signature of an acceptable delivery.
func FuzzCRCHandshake(f *testing.F) {
	f.Add("crc_token=abc")
	f.Add("crc_token=%7B%7D")
	f.Add("crc_token=" + strings.Repeat("A", 200))
	f.Add("crc_token=a%3D%3D&crc_token=b")
	f.Add("crc_token=")
	x := buildVectorProvider(f, providerVector{provider: "twitter"}, "consumer").(*ProviderVerifier)
	f.Fuzz(func(t *testing.T, query string) {
		r := request("GET", "", nil)
		r.Query = query
		resp, err := x.Handshake(r, vectNow)
		if resp == nil {
			return
		}
		if err != nil {
			t.Fatal("an answer and an error")
		}
		raw, _ := queryValue(query, "crc_token")
		token, _ := url.QueryUnescape(raw)
		if !isCRCToken(token) || strings.HasPrefix(token, "{") {
			t.Fatalf("answered token %q", token)
		}
		mac := hm(sha256.New, "consumer", token)
		r = request("POST", "", []byte(token), authz.HeaderValue{Name: "x-twitter-webhooks-signature", Value: "sha256=" + base64.StdEncoding.EncodeToString(mac)})
		if _, err := x.Verify(r, vectNow); err == nil {
			t.Fatalf("the answer to %q verifies a delivery", token)
		}
	})
}

// FuzzBasicAuth: no Authorization header but the configured credentials
// is accepted, and none panics.
func FuzzBasicAuth(f *testing.F) {
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("hooks:pw")))
	f.Add("Basic !!")
	f.Add("basic ")
	f.Add("Bearer x")
	v := NewBasicAuth([]authz.Secret{authz.Secret("hooks:pw")})
	f.Fuzz(func(t *testing.T, header string) {
		_, err := v.Verify(&authz.Request{Header: authz.Header{"authorization": header}}, vectNow)
		if err != nil {
			return
		}
		enc, ok := cutPrefixFold(header, "Basic ")
		dec, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if !ok || derr != nil || string(dec) != "hooks:pw" {
			t.Fatalf("accepted %q", header)
		}
	})
}

// FuzzEchoHandshake: an echoed challenge is always the printable ASCII the
// query carried, bounded.
func FuzzEchoHandshake(f *testing.F) {
	f.Add("challenge=abc")
	f.Add("challenge=%3Cscript%3E")
	f.Add("challenge=%00")
	f.Add("x=1")
	d := buildVectorProvider(f, providerVector{provider: "dropbox"}, "app-secret").(*ProviderVerifier)
	f.Fuzz(func(t *testing.T, query string) {
		r := request("GET", "", nil)
		r.Query = query
		resp, err := d.Handshake(r, vectNow)
		if resp == nil || err != nil {
			return
		}
		if len(resp.Body) == 0 || len(resp.Body) > maxHandshakeToken || resp.ContentType != "text/plain" {
			t.Fatalf("answer %q", resp.Body)
		}
		for _, c := range resp.Body {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("answer %q is not printable ASCII", resp.Body)
			}
		}
	})
}
