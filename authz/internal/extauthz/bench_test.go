package extauthz

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/replay"
	"github.com/hookguard/hookguard/authz/verify"
)

// tickingClock advances by a millisecond on every reading, so that with a
// replay TTL of a nanosecond every delivery is fresh again: the benchmark
// runs the full allow path, replay store included, with one signed request.
type tickingClock struct{ now time.Time }

func (c *tickingClock) Now() time.Time { c.now = c.now.Add(time.Millisecond); return c.now }

// benchServer is a server with the decision log going nowhere but fully
// formatted, and metrics, as hookguard serve runs it.
func benchServer(b *testing.B) *Server {
	clock := &tickingClock{now: time.Unix(1_700_000_000, 0)}
	p, err := authz.NewPolicy("rev-1", []*authz.Endpoint{{
		Name:          "github",
		Match:         authz.Match{PathPrefix: "/webhooks/github"},
		Verifier:      verify.NewGitHub([]authz.Secret{authz.Secret(secret)}),
		ReplayTTL:     time.Nanosecond,
		SetHeaders:    []authz.HeaderValue{{Name: "x-webhook-source", Value: "github"}},
		RemoveHeaders: []string{"x-hub-signature-256"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: 1 << 16, Clock: clock}), Clock: clock})
	a.SetPolicy(p)
	return NewServer(a, Config{Log: zerolog.New(io.Discard), Metrics: NewMetrics(prometheus.NewRegistry())})
}

// envoyRequest is a CheckRequest as Envoy sends it for a GitHub delivery:
// its usual header set, the body as raw_body.
func envoyRequest(body []byte, sig string) *authv3.CheckRequest {
	return checkRequest("/webhooks/github", map[string]string{
		":scheme": "https", "content-type": "application/json", "content-length": strconv.Itoa(len(body)),
		"user-agent": "GitHub-Hookshot/a1b2c3d", "accept": "*/*", "x-forwarded-proto": "https",
		"x-forwarded-for": "140.82.115.1", "x-envoy-external-address": "140.82.115.1",
		"x-github-event": "push", "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		"x-github-hook-id": "292430182", "x-github-hook-installation-target-id": "79929171",
		"x-github-hook-installation-target-type": "repository",
		"x-hub-signature":                        "sha1=0000000000000000000000000000000000000000",
		"x-hub-signature-256":                    sig,
	}, body, nil)
}

// BenchmarkServerCheck is one ext_authz check in process, message bytes in
// and out: decoding, decision (allowed, or a forged signature), decision
// log line, metrics, encoding; through grpc-go's generic protobuf codec and
// through the wire codec.
func BenchmarkServerCheck(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte('a' + i%26)
		}
		for _, tc := range []struct {
			name string
			sig  string
			want authz.Reason
		}{
			{"allow", sign(string(body)), authz.OK},
			{"forged", sign("other"), authz.SignatureInvalid},
		} {
			msg, err := proto.Marshal(envoyRequest(body, tc.sig))
			if err != nil {
				b.Fatal(err)
			}
			name := tc.name + "-" + strconv.Itoa(size>>10) + "KiB"
			b.Run("generic/"+name, func(b *testing.B) {
				s := benchServer(b)
				codec := proto.MarshalOptions{}
				b.ReportAllocs()
				b.SetBytes(int64(len(msg)))
				cpu := cpuNow()
				for b.Loop() {
					var req authv3.CheckRequest
					if err := proto.Unmarshal(msg, &req); err != nil {
						b.Fatal(err)
					}
					resp, _ := s.Check(context.Background(), &req)
					if _, err := codec.Marshal(resp); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, cpu)
			})
			b.Run("wire/"+name, func(b *testing.B) {
				s := benchServer(b)
				c := Codec()
				data := mem.BufferSlice{mem.SliceBuffer(msg)}
				b.ReportAllocs()
				b.SetBytes(int64(len(msg)))
				cpu := cpuNow()
				for b.Loop() {
					ch := new(check)
					if err := c.Unmarshal(data, ch); err != nil {
						b.Fatal(err)
					}
					s.checkWire(context.Background(), ch)
					if _, err := c.Marshal(ch); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, cpu)
			})
		}
	}
}
