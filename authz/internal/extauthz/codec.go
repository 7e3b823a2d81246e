package extauthz

import (
	"context"
	"fmt"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/hookguard/hookguard/authz"
)

// A check is one call of the Check method on the wire path: its request
// decoded straight from the message, and its encoded response.
type check struct {
	// msg is the one copy of the request message the check keeps: every
	// string and the body of req refer into it.
	msg  []byte
	req  authz.Request
	resp []byte
}

// Codec returns the gRPC codec the wire path needs (register the server
// with grpc.ForceServerCodecV2(Codec())). It decodes a Check request
// straight into the core's Request and writes the response without building
// any message; every other message, such as the health service's, goes
// through grpc-go's own protobuf codec.
//
// The generic codec spends most of a check's CPU on reflection: building a
// CheckRequest, a map of headers, a string per header, then a CheckResponse
// with a Struct. go-control-plane's generated fast paths do not cover this:
// it ships only marshal and size code for these messages, and only under
// the vtprotobuf build tag.
//
// A request never keeps a reference to a buffer grpc-go reuses: the message
// is copied once, out of grpc-go's pooled buffers, into memory the request
// owns, and its strings and body refer into that copy.
func Codec() encoding.CodecV2 { return codec{generic: encoding.GetCodecV2(proto.Name)} }

type codec struct{ generic encoding.CodecV2 }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if ch, ok := v.(*check); ok {
		return mem.BufferSlice{mem.SliceBuffer(ch.resp)}, nil
	}
	return c.generic.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) (err error) {
	ch, ok := v.(*check)
	if !ok {
		return c.generic.Unmarshal(data, v)
	}
	// A decoding bug must not take the process down: grpc-go does not
	// recover a codec's panic. The error fails the call, which Envoy
	// answers with status_on_error.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("extauthz: decoding CheckRequest: panic: %v", p)
		}
	}()
	ch.msg = data.Materialize()
	var f checkFields
	if err := decodeCheckRequest(ch.msg, &f); err != nil {
		return err
	}
	f.fill(&ch.req)
	return nil
}

// Name is "proto": the codec speaks protobuf, and gRPC clients name it so
// in the content type.
func (codec) Name() string { return proto.Name }

// Register registers s as the envoy.service.auth.v3.Authorization service
// of gs on the wire path. gs must be created with
// grpc.ForceServerCodecV2(Codec()); without it every check fails, and Envoy
// denies.
func Register(gs *grpc.Server, s *Server) {
	gs.RegisterService(&serviceDesc, s)
}

// serviceDesc is authv3.Authorization_ServiceDesc with a Check handler
// that decodes into a check rather than a CheckRequest.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: authv3.Authorization_ServiceDesc.ServiceName,
	HandlerType: (*authv3.AuthorizationServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}},
	Metadata:    authv3.Authorization_ServiceDesc.Metadata,
}

func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	ch := new(check)
	if err := dec(ch); err != nil {
		return nil, err
	}
	s := srv.(*Server)
	if interceptor == nil {
		s.checkWire(ctx, ch)
		return ch, nil
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
	return interceptor(ctx, ch, info, func(ctx context.Context, req any) (any, error) {
		ch := req.(*check)
		s.checkWire(ctx, ch)
		return ch, nil
	})
}

// checkWire decides ch and writes its response.
func (s *Server) checkWire(ctx context.Context, ch *check) {
	d, a := s.decide(ctx, &ch.req)
	ch.resp = appendCheckResponse(make([]byte, 0, respInitialCap), &d, &a)
}
