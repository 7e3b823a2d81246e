package verify

import (
	"bytes"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

func FuzzTwilioForm(f *testing.F) {
	f.Add([]byte(twilioFormBody))
	f.Add([]byte("a=%zz&&=&b"))
	f.Add([]byte("a+b=c%20d"))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := twilioFormContent(body)
		if err == nil && len(out) > len(body) {
			t.Fatalf("signed content longer than the body: %d > %d", len(out), len(body))
		}
	})
}

func FuzzTwilioRequest(f *testing.F) {
	f.Add("mycompany.com", "/myapp.php", "foo=1&bar=2", []byte(twilioFormBody), twilioFormSig)
	f.Add("mycompany.com:443", "/", "bodySHA256=00", []byte("{}"), "AAAA")
	f.Fuzz(func(t *testing.T, host, path, query string, body []byte, sig string) {
		r := &authz.Request{Method: "POST", Scheme: "https", Host: host, Path: path, Query: query, Body: body,
			Header: authz.Header{"x-twilio-signature": sig, "content-type": formType}}
		v := NewTwilio(secrets(twilioToken))
		if _, err := v.Verify(r, t0); err != nil && reasonOf(err) == authz.Unavailable {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}

// FuzzTwilioFormMatchesNetURL: twilioFormContent decodes as
// url.QueryUnescape does and sorts as Twilio does, which the plain
// implementation below spells out.
func FuzzTwilioFormMatchesNetURL(f *testing.F) {
	f.Add([]byte(twilioFormBody))
	f.Add([]byte("b=2&a=%41%2b+&a=1&&=x&c"))
	f.Add([]byte("a=%4"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := twilioFormContent(body)
		want, ok := plainTwilioForm(body)
		if (err == nil) != ok || ok && !bytes.Equal(got, want) {
			t.Fatalf("twilioFormContent = %q, %v; want %q, %v", got, err, want, ok)
		}
	})
}

// plainTwilioForm is what Twilio signs of a form body, with net/url.
func plainTwilioForm(body []byte) ([]byte, bool) {
	if bytes.Count(body, []byte("&"))+1 > maxFormParams {
		return nil, false
	}
	var params [][2]string
	for _, pair := range strings.Split(string(body), "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		n, err1 := url.QueryUnescape(name)
		v, err2 := url.QueryUnescape(value)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		params = append(params, [2]string{n, v})
	}
	slices.SortFunc(params, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	out := []byte{}
	for _, p := range params {
		out = append(append(out, p[0]...), p[1]...)
	}
	return out, true
}
