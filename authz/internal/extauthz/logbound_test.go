package extauthz

import (
	"context"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// TestDecisionLogIsBounded: the sender chooses the path, the method and,
// unless Envoy replaces it, the request id; a decision's log line must not
// grow with them, or any request can write a MiB to the log.
func TestDecisionLogIsBounded(t *testing.T) {
	s := newTestServer(t)
	big := strings.Repeat("a", 1<<20)
	for name, req := range map[string]func() *authv3.CheckRequest{
		"path": func() *authv3.CheckRequest { return checkRequest("/webhooks/github/"+big, nil, nil, nil) },
		"method": func() *authv3.CheckRequest {
			r := checkRequest("/webhooks/github", nil, nil, nil)
			r.GetAttributes().GetRequest().GetHttp().Method = big
			return r
		},
		"request id": func() *authv3.CheckRequest {
			return checkRequest("/nowhere", map[string]string{"x-request-id": big}, nil, nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s.Check(context.Background(), req())
			if n := s.logs.Len(); n > maxLogLine {
				t.Errorf("decision log line of %d bytes (limit %d)", n, maxLogLine)
			}
			if line := s.logLine(t); line["decision"] != "deny" {
				t.Errorf("line %v", line)
			}
		})
	}
}

// maxLogLine bounds a decision log line whatever the request.
const maxLogLine = 4 << 10
