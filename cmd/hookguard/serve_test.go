package main

import (
	"strings"
	"testing"
)

func TestServeLinkFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--grpc-tls-cert", "a.pem"}, "go together"},
		{[]string{"--grpc-tls-cert", "a.pem", "--grpc-tls-key", "k.pem"}, "go together"},
		{[]string{"--grpc-client-id", "has space"}, "--grpc-client-id"},
		{[]string{"--admin-client-id", "spiffe:///nohost"}, "--admin-client-id"},
		{[]string{"--socket-mode", "0999"}, "octal permission"},
		{[]string{"--socket-mode", "01777"}, "octal permission"},
	} {
		args := append([]string{"serve", "--policies", dir}, tc.args...)
		code, _, errOut := runCmd(t, "", args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestServeDefaultsToLoopback(t *testing.T) {
	// The flags' defaults; e2e's TestServeDefaultFlagsListenOnLoopback
	// reads what a started process actually binds.
	_, out, _ := runCmd(t, "", "serve", "-h")
	lines := strings.Split(out, "\n")
	for name, want := range map[string]string{"grpc-addr": "127.0.0.1:9191", "admin-addr": "127.0.0.1:9192"} {
		found := false
		for i, l := range lines {
			if strings.TrimSpace(l) == "--"+name+" string" && i+1 < len(lines) {
				found = strings.HasSuffix(lines[i+1], "(default "+want+")")
			}
		}
		if !found {
			t.Errorf("--%s does not default to %s:\n%s", name, want, out)
		}
	}
}
