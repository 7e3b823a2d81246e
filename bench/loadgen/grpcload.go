package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Placeholders in the template message, patched per request. Each is
// unique in the message and has the length of what replaces it.
const (
	deliveryMark = "DELIVERYDELIVERYDELIVERYDELIVERYDELI" // 36, a UUID's length
	requestMark  = "REQUESTREQUESTREQUESTREQUESTREQU"     // 32
	seqMark      = "SEQSEQSEQSEQSEQS"                     // 16 hex digits
)

// sigMark stands for X-Hub-Signature-256: "sha256=" and 64 hex digits.
var sigMark = "sha256=" + strings.Repeat("S", 64)

// delivery is a GitHub push delivery of exactly size bytes: a constant
// prefix and a tail holding the sequence number, so that every request has
// its own body, signature and replay key.
type delivery struct {
	body   []byte
	prefix int // length of the constant prefix
	signer *signer
}

func newDelivery(size int, secret []byte) (*delivery, error) {
	head := `{"ref":"refs/heads/main","zen":"`
	tail := `","seq":"` + seqMark + `"}`
	pad := size - len(head) - len(tail)
	if pad < 0 {
		return nil, fmt.Errorf("body size %d is too small", size)
	}
	body := make([]byte, 0, size)
	body = append(body, head...)
	for i := range pad {
		body = append(body, "Keep it logically awesome. "[i%27])
	}
	body = append(body, tail...)
	prefix := bytes.Index(body, []byte(seqMark))
	s, err := newSigner(secret, body[:prefix])
	if err != nil {
		return nil, err
	}
	return &delivery{body: body, prefix: prefix, signer: s}, nil
}

// githubHeaders are the headers of a GitHub delivery as Envoy forwards
// them, with placeholders.
func githubHeaders(size int) map[string]string {
	return map[string]string{
		"accept":                                 "*/*",
		"content-type":                           "application/json",
		"content-length":                         strconv.Itoa(size),
		"user-agent":                             "GitHub-Hookshot/a1b2c3d",
		"x-github-event":                         "push",
		"x-github-delivery":                      deliveryMark,
		"x-github-hook-id":                       "292430182",
		"x-github-hook-installation-target-id":   "79929171",
		"x-github-hook-installation-target-type": "repository",
		"x-hub-signature":                        "sha1=0000000000000000000000000000000000000000",
		"x-hub-signature-256":                    sigMark,
	}
}

// checkTemplate is a marshalled CheckRequest with the offsets of its
// placeholders.
type checkTemplate struct {
	msg                         []byte
	delivery, request, seq, sig int
	d                           *delivery
}

func newTemplate(d *delivery) (*checkTemplate, error) {
	h := githubHeaders(len(d.body))
	for k, v := range map[string]string{
		":authority": "hooks.example.com", ":method": "POST", ":path": "/webhooks/github", ":scheme": "https",
		"x-forwarded-proto": "https", "x-forwarded-for": "140.82.115.1", "x-envoy-external-address": "140.82.115.1",
		"x-request-id": requestMark,
	} {
		h[k] = v
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: sockAddr("140.82.115.1", 51234)},
		Destination: &authv3.AttributeContext_Peer{Address: sockAddr("127.0.0.1", 8443)},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(time.Unix(1_700_000_000, 0)),
			Http: &authv3.AttributeContext_HttpRequest{
				Id: "12345678901234567890", Method: "POST", Headers: h, Path: "/webhooks/github",
				Host: "hooks.example.com", Scheme: "https", Protocol: "HTTP/1.1", Size: int64(len(d.body)), RawBody: d.body,
			},
		},
		ContextExtensions: map[string]string{"hookguard.endpoint": "github"},
	}}
	msg, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	t := &checkTemplate{msg: msg, d: d}
	for _, m := range []struct {
		mark string
		at   *int
	}{{deliveryMark, &t.delivery}, {requestMark, &t.request}, {seqMark, &t.seq}, {sigMark, &t.sig}} {
		*m.at = bytes.Index(msg, []byte(m.mark))
		if *m.at < 0 || bytes.Count(msg, []byte(m.mark)) != 1 {
			return nil, fmt.Errorf("placeholder %s not found once", m.mark)
		}
	}
	return t, nil
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

// putHex writes v as len(dst) lower-case hex digits.
func putHex(dst []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

// fill makes buf request number seq: a copy of the template with its own
// delivery id, request id, body tail and signature; a bad signature when
// bad is set.
func (t *checkTemplate) fill(buf []byte, seq uint64, bad bool) []byte {
	buf = append(buf[:0], t.msg...)
	putHex(buf[t.seq:t.seq+len(seqMark)], seq)
	putHex(buf[t.request:t.request+len(requestMark)], seq)
	copy(buf[t.delivery:], "72d3162e-cc78-11e3-")
	putHex(buf[t.delivery+19:t.delivery+len(deliveryMark)], seq)
	bodyStart := t.seq - t.d.prefix
	var room [128]byte
	sig := t.d.signer.sign(room[:0], buf[t.seq:bodyStart+len(t.d.body)])
	if bad {
		sig[len(sig)-1] ^= 1 // another hex digit
	}
	copy(buf[t.sig:t.sig+len(sigMark)], sig)
	return buf
}

// rawCodec sends prepared message bytes and returns the response's bytes;
// it calls itself "proto", which is what they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// allowed reports whether a CheckResponse's status code is OK.
func allowed(resp []byte) bool {
	for len(resp) > 0 {
		num, typ, n := protowire.ConsumeTag(resp)
		if n < 0 {
			return false
		}
		resp = resp[n:]
		if num == 1 && typ == protowire.BytesType {
			st, n := protowire.ConsumeBytes(resp)
			if n < 0 {
				return false
			}
			for len(st) > 0 {
				num, typ, n := protowire.ConsumeTag(st)
				if n < 0 {
					return false
				}
				st = st[n:]
				if num == 1 && typ == protowire.VarintType {
					c, _ := protowire.ConsumeVarint(st)
					return c == 0
				}
				st = st[protowire.ConsumeFieldValue(num, typ, st):]
			}
			return true
		}
		n = protowire.ConsumeFieldValue(num, typ, resp)
		if n < 0 {
			return false
		}
		resp = resp[n:]
	}
	return false
}

// seq numbers every delivery of the run, so none repeats on any server.
var seq atomic.Uint64

// run is the outcome of one measured load run.
type run struct {
	latencies []time.Duration
	requests  int
	errors    int // RPC errors, or HTTP statuses other than expected
	wrong     int // a good signature denied or a bad one allowed
	elapsed   time.Duration
}

// grpcCaller returns the call that sends one check to conn, a connection
// to the server as Envoy keeps one, with a bad signature for the share
// badShare of them.
func grpcCaller(ctx context.Context, conn *grpc.ClientConn, t *checkTemplate, badShare float64) func(*worker) (time.Duration, bool, bool) {
	return func(w *worker) (time.Duration, bool, bool) {
		bad := badShare > 0 && w.rng.Float64() < badShare
		w.buf = t.fill(w.buf, seq.Add(1), bad)
		var resp []byte
		start := time.Now()
		err := conn.Invoke(ctx, "/envoy.service.auth.v3.Authorization/Check", &w.buf, &resp)
		lat := time.Since(start)
		return lat, err == nil, err == nil && allowed(resp) == !bad
	}
}

// dialGRPC connects to a server under test, with the raw codec.
func dialGRPC(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
}

// target is one server measured in an interleaved run.
type target struct {
	name string
	call func(*worker) (time.Duration, bool, bool)
	pid  int // the process whose CPU time is counted; 0 for none
	// total accumulates the slices; rounds is each slice's requests/s.
	total  run
	rounds []float64
	cpu    time.Duration
}

// interleave measures the targets in turns of slice each, alternating
// their order, until each has had d; each is warmed up first. Taking turns
// spreads whatever else the machine does over all targets alike, so their
// ratios hold even when the absolute figures wander.
func interleave(ctx context.Context, targets []*target, conc int, d, slice, warm time.Duration, limit int) error {
	for _, t := range targets {
		if _, err := drive(ctx, conc, warm, 0, limit, t.call); err != nil {
			return fmt.Errorf("%s warm-up: %w", t.name, err)
		}
	}
	rounds := max(1, int((d+slice-1)/slice))
	for r := range rounds {
		order := slices.Clone(targets)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			left := limit - t.total.requests
			if left <= 0 {
				continue
			}
			var c0 time.Duration
			if t.pid != 0 {
				var err error
				if c0, err = cpuTime(t.pid); err != nil {
					return err
				}
			}
			res, err := drive(ctx, conc, slice, 0, left, t.call)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if t.pid != 0 {
				c1, err := cpuTime(t.pid)
				if err != nil {
					return err
				}
				t.cpu += c1 - c0
			}
			t.rounds = append(t.rounds, float64(res.requests)/res.elapsed.Seconds())
			t.total.latencies = append(t.total.latencies, res.latencies...)
			t.total.requests += res.requests
			t.total.errors += res.errors
			t.total.wrong += res.wrong
			t.total.elapsed += res.elapsed
		}
	}
	for _, t := range targets {
		slices.Sort(t.total.latencies)
	}
	return nil
}

// worker is one load generating goroutine's state.
type worker struct {
	buf []byte
	rng *rand.Rand
}

// drive runs call from conc goroutines: first for warm, unrecorded, then
// for d or max calls, recording each call's latency.
func drive(ctx context.Context, conc int, d, warm time.Duration, max int, call func(*worker) (lat time.Duration, ok, right bool)) (*run, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		r     = &run{}
		count atomic.Int64
	)
	warmEnd := time.Now().Add(warm)
	var start time.Time
	var startOnce sync.Once
	stop := warmEnd.Add(d)
	for i := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{rng: rand.New(rand.NewPCG(uint64(i), 42))}
			lats := make([]time.Duration, 0, 1<<14)
			var errs, wrong int
			for ctx.Err() == nil {
				now := time.Now()
				if now.After(stop) {
					break
				}
				measuring := !now.Before(warmEnd)
				if measuring {
					startOnce.Do(func() { start = now })
					if count.Add(1) > int64(max) {
						break
					}
				}
				lat, ok, right := call(w)
				if !measuring {
					continue
				}
				lats = append(lats, lat)
				if !ok {
					errs++
				} else if !right {
					wrong++
				}
			}
			mu.Lock()
			r.latencies = append(r.latencies, lats...)
			r.errors += errs
			r.wrong += wrong
			mu.Unlock()
		}()
	}
	wg.Wait()
	if start.IsZero() {
		return nil, fmt.Errorf("no request was measured")
	}
	r.elapsed = time.Since(start)
	r.requests = len(r.latencies)
	slices.Sort(r.latencies)
	return r, ctx.Err()
}

// quantile returns the q-quantile of the sorted latencies.
func (r *run) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.latencies)))
	return r.latencies[min(i, len(r.latencies)-1)]
}
