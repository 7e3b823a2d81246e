package authz

import (
	"strings"
	"testing"
)

func TestCheckBodyForwarded(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header Header
		body   string
		want   Reason
	}{
		{"length matches", Header{"content-length": "5"}, "hello", OK},
		{"empty body declared empty", Header{"content-length": "0"}, "", OK},
		{"no length, body sent", Header{}, "hello", OK},
		{"no length, no body", Header{}, "", OK},
		{"chunked with body", Header{"transfer-encoding": "chunked"}, "hello", OK},
		{"body not forwarded", Header{"content-length": "5"}, "", BodyNotForwarded},
		{"other length forwarded", Header{"content-length": "5"}, "hell", BodyNotForwarded},
		{"more than declared", Header{"content-length": "3"}, "hello", BodyNotForwarded},
		{"chunked, nothing forwarded", Header{"transfer-encoding": "gzip, Chunked"}, "", BodyNotForwarded},
		{"malformed length", Header{"content-length": "5, 5"}, "hello", NonCanonicalRequest},
		{"negative length", Header{"content-length": "-1"}, "", NonCanonicalRequest},
		{"huge length", Header{"content-length": "99999999999999999999"}, "", NonCanonicalRequest},
	} {
		got, detail := checkBodyForwarded(&Request{Header: tt.header, Body: []byte(tt.body)})
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
		if got == BodyNotForwarded && (detail == "" || !strings.Contains(detail, "with_request_body") || !strings.Contains(detail, "includeRequestBodyInCheck")) {
			t.Errorf("%s: detail %q does not name the settings to fix", tt.name, detail)
		}
	}
}
