package extauthz

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hookguard/hookguard/authz"
)

// wireCases are CheckRequests covering every field the wire decoder reads
// and the proto3 rules it follows.
func wireCases() map[string]*authv3.CheckRequest {
	body := []byte{0xff, 0x00, '{', '}'}
	cases := map[string]*authv3.CheckRequest{
		"envoy":        checkRequest("/webhooks/github/x?a=1", map[string]string{"x-hub-signature-256": sign(string(body)), "x-envoy-auth-partial-body": "false"}, body, map[string]string{"hookguard.endpoint": "github"}),
		"empty":        {},
		"no request":   {Attributes: &authv3.AttributeContext{}},
		"string body":  checkRequest("/p", nil, nil, nil),
		"partial":      checkRequest("/p", map[string]string{"x-envoy-auth-partial-body": "true"}, body, nil),
		"no socket":    checkRequest("/p", nil, body, nil),
		"pipe":         checkRequest("/p", nil, body, nil),
		"named port":   checkRequest("/p", nil, body, nil),
		"zoned":        checkRequest("/p", nil, body, nil),
		"header map":   checkRequest("/p", nil, body, nil),
		"certificate":  checkRequest("/p", nil, body, nil),
		"query field":  checkRequest("/p", nil, body, nil),
		"no stream id": checkRequest("/p", nil, body, nil),
	}
	cases["string body"].Attributes.Request.Http.Body = "text body"
	cases["no socket"].Attributes.Source.Address = nil
	cases["pipe"].Attributes.Source.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/x.sock"}}}
	cases["named port"].Attributes.Source.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_NamedPort{NamedPort: "https"}
	cases["zoned"].Attributes.Source.Address.GetSocketAddress().Address = "fe80::1%eth0"
	h := cases["header map"].Attributes.Request.Http
	h.Headers = nil
	h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "X-Hub-Signature-256", RawValue: []byte("sha256=ab")},
		{Key: "x-multi", Value: "a"}, {Key: "X-Multi", Value: "b"}, {Key: "x-empty-raw", RawValue: []byte{}},
	}}
	cases["certificate"].Attributes.Source.Certificate = "-----BEGIN%20CERTIFICATE-----"
	cases["query field"].Attributes.Request.Http.Query = "q=1"
	delete(cases["no stream id"].Attributes.Request.Http.Headers, "x-request-id")
	return cases
}

// decodeBoth decodes msg with the generic codec and with the wire decoder.
func decodeBoth(t *testing.T, msg []byte) (generic *authz.Request, genericErr error, wire *authz.Request, wireErr error) {
	t.Helper()
	var req authv3.CheckRequest
	if genericErr = proto.Unmarshal(msg, &req); genericErr == nil {
		generic = requestFromCheck(&req)
	}
	var ch check
	if wireErr = Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(msg)}, &ch); wireErr == nil {
		wire = &ch.req
	}
	return sameEmpty(generic), genericErr, sameEmpty(wire), wireErr
}

// sameEmpty makes empty maps nil: the generic codec allocates a map for a
// map field of the wrong wire type, which it then ignores, and an empty map
// reads like a nil one.
func sameEmpty(r *authz.Request) *authz.Request {
	if r == nil {
		return nil
	}
	if len(r.Header) == 0 {
		r.Header = nil
	}
	if len(r.ContextExtensions) == 0 {
		r.ContextExtensions = nil
	}
	return r
}

func TestWireDecodeMatchesGeneric(t *testing.T) {
	for name, req := range wireCases() {
		t.Run(name, func(t *testing.T) {
			msg, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			generic, gerr, wire, werr := decodeBoth(t, msg)
			if gerr != nil || werr != nil {
				t.Fatalf("generic: %v, wire: %v", gerr, werr)
			}
			if !reflect.DeepEqual(generic, wire) {
				t.Errorf("wire decoding differs:\ngeneric %+v\nwire    %+v", generic, wire)
			}
		})
	}
}

// Two encodings one after the other are one message with proto3's merge
// rules: the last scalar wins, maps and repeated fields add up, messages
// merge, a oneof takes its last member.
func TestWireDecodeMerges(t *testing.T) {
	cases := wireCases()
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	for _, a := range names {
		for _, b := range names {
			ma, _ := proto.Marshal(cases[a])
			mb, _ := proto.Marshal(cases[b])
			generic, gerr, wire, werr := decodeBoth(t, append(ma, mb...))
			if gerr != nil || werr != nil {
				t.Fatalf("%s + %s: generic: %v, wire: %v", a, b, gerr, werr)
			}
			if !reflect.DeepEqual(generic, wire) {
				t.Errorf("%s + %s: wire decoding differs:\ngeneric %+v\nwire    %+v", a, b, generic, wire)
			}
		}
	}
}

func TestWireDecodeRefusesWhatGenericRefuses(t *testing.T) {
	valid, _ := proto.Marshal(wireCases()["envoy"])
	badUTF8 := checkRequest("/p", map[string]string{"x-bad": "\xff"}, nil, nil)
	bad, _ := proto.MarshalOptions{}.Marshal(badUTF8) // Marshal does not check UTF-8 of map values it is handed
	if len(bad) == 0 {
		t.Fatal("could not build the message with invalid UTF-8")
	}
	for name, msg := range map[string][]byte{
		"truncated":          valid[:len(valid)-3],
		"invalid UTF-8":      bad,
		"length past end":    {0x0a, 0x7f},
		"field number 0":     {0x02, 0x00},
		"bad varint":         {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"nested length past": protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0x0a, 0x05, 0x01}),
	} {
		t.Run(name, func(t *testing.T) {
			_, gerr, _, werr := decodeBoth(t, msg)
			if gerr == nil {
				t.Skipf("the generic codec accepts it")
			}
			if werr == nil {
				t.Errorf("wire decoder accepted what the generic codec refuses (%v)", gerr)
			}
		})
	}
}

// Fields of the wrong wire type are unknown fields, as proto3 has it.
func TestWireDecodeWrongWireTypeIsUnknown(t *testing.T) {
	valid, _ := proto.Marshal(wireCases()["envoy"])
	// attributes as a varint, then a fixed32 field 4 and a group.
	msg := protowire.AppendVarint(protowire.AppendTag(nil, fCheckAttributes, protowire.VarintType), 7)
	msg = protowire.AppendFixed32(protowire.AppendTag(msg, 4, protowire.Fixed32Type), 1)
	msg = protowire.AppendTag(msg, 5, protowire.StartGroupType)
	msg = protowire.AppendTag(msg, 5, protowire.EndGroupType)
	msg = append(msg, valid...)
	generic, gerr, wire, werr := decodeBoth(t, msg)
	if gerr != nil || werr != nil {
		t.Fatalf("generic: %v, wire: %v", gerr, werr)
	}
	if !reflect.DeepEqual(generic, wire) {
		t.Errorf("wire decoding differs:\ngeneric %+v\nwire    %+v", generic, wire)
	}
}

// A request keeps no reference to the buffers grpc-go hands the codec,
// which go back to a pool and are overwritten by the next message.
func TestWireDecodeOwnsItsMemory(t *testing.T) {
	msg, _ := proto.Marshal(wireCases()["envoy"])
	pool := mem.DefaultBufferPool()
	var data mem.BufferSlice
	for rest := msg; len(rest) > 0; { // several buffers, as a large message arrives
		n := min(len(rest), 100)
		buf := pool.Get(n)
		copy(*buf, rest[:n])
		data = append(data, mem.NewBuffer(buf, pool))
		rest = rest[n:]
	}
	var ch check
	if err := Codec().Unmarshal(data, &ch); err != nil {
		t.Fatal(err)
	}
	want := requestFromCheck(wireCases()["envoy"])
	for _, b := range data {
		clear(b.ReadOnlyData()) // what the next message would do
	}
	data.Free()
	if !reflect.DeepEqual(&ch.req, want) {
		t.Errorf("request changed with the buffers it came from:\ngot  %+v\nwant %+v", &ch.req, want)
	}
}

func FuzzWireDecode(f *testing.F) {
	for _, req := range wireCases() {
		msg, _ := proto.Marshal(req)
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		generic, gerr, wire, werr := decodeBoth(t, msg)
		switch {
		case gerr == nil && werr != nil:
			t.Fatalf("generic accepts, wire refuses: %v", werr)
		case gerr == nil && !reflect.DeepEqual(generic, wire):
			t.Fatalf("wire decoding differs:\ngeneric %+v\nwire    %+v", generic, wire)
		}
	})
}

// Random requests with random field values round-trip the same way.
func TestWireDecodeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		const alphabet = "abcXYZ-_/:.%? é"
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet)-1)]
		}
		return strings.ToValidUTF8(string(b), "")
	}
	for i := range 500 {
		headers := map[string]string{}
		for range rng.IntN(20) {
			headers[str()] = str()
		}
		var body []byte
		if rng.IntN(3) > 0 {
			body = []byte(str())
		}
		var ext map[string]string
		if rng.IntN(2) == 0 {
			ext = map[string]string{str(): str()}
		}
		req := checkRequest("/"+str(), headers, body, ext)
		req.Attributes.Request.Http.Method = str()
		req.Attributes.Request.Http.Query = str()
		req.Attributes.Source.Principal = str()
		msg, _ := proto.Marshal(req)
		generic, gerr, wire, werr := decodeBoth(t, msg)
		if gerr != nil || werr != nil {
			t.Fatalf("#%d: generic: %v, wire: %v", i, gerr, werr)
		}
		if !reflect.DeepEqual(generic, wire) {
			t.Fatalf("#%d: wire decoding differs:\ngeneric %+v\nwire    %+v", i, generic, wire)
		}
	}
}

// The wire encoding of every kind of answer is the CheckResponse
// responseFromAnswer builds.
func TestWireResponseMatchesMessage(t *testing.T) {
	long := strings.Repeat("v", 300) // lengths that need two varint bytes
	decisions := map[string]authz.Decision{
		"allow": {Reason: authz.OK, Endpoint: "github", DeliveryID: "d-1", Verified: true,
			SetHeaders:    []authz.HeaderValue{{Name: "x-hookguard-endpoint", Value: "github"}, {Name: "x-long", Value: long}},
			RemoveHeaders: []string{"x-hub-signature-256", "x-hookguard-admin"}},
		"allow, nothing to change": {Reason: authz.OK},
		"deny":                     {Reason: authz.SignatureInvalid, Endpoint: "github", RequestID: "rid"},
		"no endpoint":              {Reason: authz.NoEndpoint, RequestID: long},
		"rate limited": {Reason: authz.RateLimited, Endpoint: "e", RetryAfterSeconds: 3,
			ResponseHeaders: []authz.HeaderValue{{Name: "ratelimit", Value: `"source";r=0;t=3`}}},
		"unavailable":      {Reason: authz.Unavailable, RetryAfterSeconds: authz.RetryAfterUnavailable},
		"handshake":        {Reason: authz.Handshake, Endpoint: "slack", Response: &authz.Response{ContentType: "text/plain", Body: []byte(long)}},
		"handshake, empty": {Reason: authz.Handshake, Endpoint: "slack", Response: &authz.Response{ContentType: "text/plain"}},
		"dry run":          {Reason: authz.Replayed, DryRun: true, Endpoint: "e", DeliveryID: "d", SetHeaders: []authz.HeaderValue{{Name: "x-hookguard-endpoint", Value: "e"}}},
	}
	// Allowed deliveries with replay claims of one key, of several (a
	// field longer than 127 bytes), of the most a claim carries, and of
	// one more, which has no text form and so no field.
	for _, n := range []int{1, 3, authz.MaxClaimKeys, authz.MaxClaimKeys + 1} {
		c := &authz.Nonces{Endpoint: "github", Keys: make([]authz.NonceKey, n), Token: authz.NewNonceToken()}
		for i := range c.Keys {
			c.Keys[i] = authz.NewNonceKey("github", []byte(strconv.Itoa(i)))
		}
		decisions["allow, claim of "+strconv.Itoa(n)+" keys"] = authz.Decision{Reason: authz.OK, Endpoint: "github", Nonce: c}
	}
	for name, d := range decisions {
		t.Run(name, func(t *testing.T) {
			a := d.Answer()
			want := responseFromAnswer(&d, &a)
			var got authv3.CheckResponse
			if err := proto.Unmarshal(appendCheckResponse(nil, &d, &a), &got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&got, want) {
				t.Errorf("wire response differs:\ngot  %v\nwant %v", &got, want)
			}
		})
	}
}

// A server registered with Register and the codec answers a standard gRPC
// client as Check does, and serves the health service through the
// generic codec.
func TestRegisterServesStandardClients(t *testing.T) {
	s := newTestServer(t)
	gs := grpc.NewServer(grpc.ForceServerCodecV2(Codec()))
	Register(gs, s.Server)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	defer gs.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health through the generic codec: %v", err)
	}
	client := authv3.NewAuthorizationClient(conn)
	body := bytes.Repeat([]byte("x"), 100<<10) // several gRPC frames
	for name, req := range map[string]*authv3.CheckRequest{
		"allow":  checkRequest("/webhooks/github", map[string]string{"x-hub-signature-256": sign(string(body)), "x-github-delivery": "d-9"}, body, nil),
		"forged": checkRequest("/webhooks/github", map[string]string{"x-hub-signature-256": sign("other")}, body, nil),
		"404":    checkRequest("/nope", nil, nil, nil),
	} {
		got, err := client.Check(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The same request again through Check is a replay: compare with
		// a fresh server's answer instead.
		fresh := newTestServer(t)
		fresh.Server.log = zerolog.New(io.Discard)
		want, _ := fresh.Check(ctx, req)
		// An allowed delivery's replay claim holds a random token: both
		// must carry a valid claim of the same keys, and the rest must be
		// equal.
		gotClaim, wantClaim := takeClaim(t, got), takeClaim(t, want)
		if (gotClaim != nil) != (name == "allow") || (wantClaim != nil) != (name == "allow") ||
			gotClaim != nil && (gotClaim.Endpoint != wantClaim.Endpoint || !slices.Equal(gotClaim.Keys, wantClaim.Keys)) {
			t.Errorf("%s: replay claims %+v and %+v", name, gotClaim, wantClaim)
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: wire path answered\n%v\nCheck answers\n%v", name, got, want)
		}
	}
	if !strings.Contains(s.logs.String(), `"delivery_id":"d-9"`) {
		t.Errorf("the wire path did not log the decision: %s", s.logs.String())
	}
}

// takeClaim removes the replay claim from resp's dynamic metadata and
// returns it decoded, or nil when there was none.
func takeClaim(t *testing.T, resp *authv3.CheckResponse) *authz.Nonces {
	t.Helper()
	fields := resp.GetDynamicMetadata().GetFields()
	v, ok := fields[MetadataReplayClaim]
	if !ok {
		return nil
	}
	delete(fields, MetadataReplayClaim)
	var c authz.Nonces
	if err := c.UnmarshalText([]byte(v.GetStringValue())); err != nil {
		t.Fatalf("replay claim %q: %v", v.GetStringValue(), err)
	}
	return &c
}
