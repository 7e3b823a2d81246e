package extauthz

import (
	"context"
	"io"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkServerCheck is one ext_authz check end to end in process:
// CheckRequest in, decision (a replayed delivery after the first), decision
// log line, metrics, CheckResponse out.
func BenchmarkServerCheck(b *testing.B) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
	}{
		{"forged", map[string]string{"x-hub-signature-256": sign("other")}},
		{"replayed", map[string]string{"x-hub-signature-256": sign(`{"zen":"bench"}`)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := newTestServer(&testing.T{})
			s.Server.log = zerolog.New(io.Discard)
			req := checkRequest("/webhooks/github", tc.headers, []byte(`{"zen":"bench"}`), nil)
			b.ReportAllocs()
			for b.Loop() {
				s.Check(context.Background(), req)
			}
		})
	}
}
