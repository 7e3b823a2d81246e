package authz

import (
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want error
	}{
		{"/", nil},
		{"/webhooks/github", nil},
		{"/webhooks/github/", nil},
		{"/webhooks/GitHub", nil}, // canonical; a near miss is a matching matter
		{"/webhooks/github.", nil},
		{"/webhooks/github%20", nil},
		{"/a%25b", nil}, // an escaped percent sign stays escaped
		{"/a%3Ab", nil},
		{"/a~b-c_d.e", nil},

		{"", errPathEmpty},
		{"webhooks", errPathEmpty},
		{"*", errPathEmpty},
		{"/" + strings.Repeat("a", MaxPathBytes), errPathTooLong},
		{"/webhooks//github", errPathEmptySegment},
		{"//webhooks", errPathEmptySegment},
		{"/webhooks/x/../github", errPathDotSegment},
		{"/webhooks/./github", errPathDotSegment},
		{"/webhooks/..", errPathDotSegment},
		{"/webhooks/.", errPathDotSegment},
		{"/webhooks/..;x/github", errPathDotSegment},
		{"/webhooks/%67ithub", errPathEncodedPlain},
		{"/webhooks/%2E%2E/github", errPathEncodedPlain},
		{"/webhooks/x%2F..%2Fgithub", errPathEncodedSep},
		{"/webhooks/x%2f..%2fgithub", errPathEscapeCase},
		{"/webhooks%5Cgithub", errPathEncodedSep},
		{"/webhooks%00", errPathEncodedSep},
		{"/webhooks%0A", errPathEncodedSep},
		{"/webhooks%7F", errPathEncodedSep},
		{"/a%3ab", errPathEscapeCase},
		{"/a%", errPathEscape},
		{"/a%4", errPathEscape},
		{"/a%zz", errPathEscape},
		{"/webhooks\\github", errPathByte},
		{"/web hooks", errPathByte},
		{"/webhooks\x00", errPathByte},
		{"/webhooks\t", errPathByte},
		{"/webhooks\x7f", errPathByte},
		{"/webhooks/\xc3\xa9", errPathByte},
		{"/webhooks/github;x=1", errPathParameters},
		{"/webhooks;v=1/github", errPathParameters},
	} {
		if got := checkPath(tc.path); got != tc.want {
			t.Errorf("checkPath(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestStripPathParameters(t *testing.T) {
	for in, want := range map[string]string{
		"/webhooks/github":        "/webhooks/github",
		"/webhooks/github;x=1":    "/webhooks/github",
		"/webhooks;v=1/github;x":  "/webhooks/github",
		"/webhooks;v=1/github;x/": "/webhooks/github/",
		"/;a":                     "/",
		"/a;b;c/d":                "/a/d",
	} {
		if got := stripPathParameters(in); got != want {
			t.Errorf("stripPathParameters(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	for _, tc := range []struct {
		authority, want string
		ok              bool
	}{
		{"", "", true},
		{"hooks.example.com", "hooks.example.com", true},
		{"Hooks.Example.COM", "hooks.example.com", true},
		{"hooks.example.com.", "hooks.example.com", true},
		{"hooks.example.com:443", "hooks.example.com", true},
		{"hooks.example.com.:8443", "hooks.example.com", true},
		{"localhost", "localhost", true},
		{"127.0.0.1:10000", "127.0.0.1", true},
		{"[::1]", "::1", true},
		{"[::1]:443", "::1", true},
		{"[2001:DB8::1]:443", "2001:db8::1", true},
		{"under_score.example", "under_score.example", true},

		{"hooks.example.com:443:443", "", false},
		{"hooks.example.com:", "", false},
		{"hooks.example.com:https", "", false},
		{"hooks.example.com:65536", "", false},
		{"hooks.example.com:-1", "", false},
		{"user@hooks.example.com", "", false},
		{"user:pass@hooks.example.com", "", false},
		{"hooks%2Eexample.com", "", false},
		{"hooks..example.com", "", false},
		{".hooks.example.com", "", false},
		{"hooks.example.com..", "", false},
		{".", "", false},
		{":443", "", false},
		{"hooks example.com", "", false},
		{"hooks.example.com\x00", "", false},
		{"hooks/example.com", "", false},
		{"héllo.example", "", false},
		{strings.Repeat("a", 64) + ".example", "", false},
		{strings.Repeat("a.", 130) + "com", "", false},
		{"[::1", "", false},
		{"[::1]x", "", false},
		{"[::1]:", "", false},
		{"[127.0.0.1]", "", false},
		{"[fe80::1%25eth0]", "", false},
		{"[nothost]", "", false},
	} {
		got, err := canonicalHost(tc.authority)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("canonicalHost(%q) = %q, %v; want %q, ok %v", tc.authority, got, err, tc.want, tc.ok)
		}
	}
}

func TestFoldPath(t *testing.T) {
	for in, want := range map[string]string{
		"/webhooks/github":      "/webhooks/github",
		"/webhooks/GitHub":      "/webhooks/github",
		"/webhooks/github.":     "/webhooks/github",
		"/webhooks/github%20":   "/webhooks/github",
		"/webhooks/github.%20.": "/webhooks/github",
		"/webhooks/github/":     "/webhooks/github",
		"/Webhooks./GitHub%20/": "/webhooks/github",
		"/":                     "/",
		"/.":                    "/",
		"/a/%20/b":              "/a//b",
	} {
		var buf [64]byte
		if got := string(foldPath(buf[:0], in)); got != want {
			t.Errorf("foldPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalHostAllocations(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { canonicalHost("hooks.example.com:443") }); n != 0 {
		t.Errorf("canonicalHost of a lower-case authority allocates %v times", n)
	}
	var buf [256]byte
	if n := testing.AllocsPerRun(100, func() { foldPath(buf[:0], "/webhooks/GitHub.") }); n != 0 {
		t.Errorf("foldPath of a short path allocates %v times", n)
	}
}
