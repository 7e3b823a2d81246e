// Package sdk_test checks hookguard's verifiers and signers against the
// providers' own Go SDKs: what the SDK signs, hookguard verifies, and what
// hookguard signs, the SDK verifies. The SDKs are test dependencies only;
// they live in the nested module e2e/conformance, so the go.mod of the
// hookguard binary lists none of them.
//
// The SDKs read the real clock, so these tests sign at time.Now().
package sdk_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

// request builds an authz.Request as the core gives it to verifiers.
func request(rawURL string, body []byte, headers []authz.HeaderValue) *authz.Request {
	r := &authz.Request{Method: "POST", Scheme: "https", Host: "hooks.example.com", Path: "/hook", Body: body, Header: authz.Header{}}
	if rawURL != "" {
		rest, _ := strings.CutPrefix(rawURL, "https://")
		host, path, _ := strings.Cut(rest, "/")
		path, query, _ := strings.Cut("/"+path, "?")
		r.Host, r.Path, r.Query = host, path, query
	}
	for _, h := range headers {
		r.Header[strings.ToLower(h.Name)] = h.Value
	}
	return r
}

// httpHeader converts signed headers for an SDK.
func httpHeader(hs []authz.HeaderValue) http.Header {
	h := http.Header{}
	for _, v := range hs {
		h.Set(v.Name, v.Value)
	}
	return h
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("hookguard refused: %v", err)
	}
}

func mustRefuse(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("hookguard accepted")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
