// Command floor is the benchmark floor: the least an Envoy ext_authz
// server can do for a GitHub webhook and still be worth calling. It checks
// X-Hub-Signature-256 against the raw body with HMAC-SHA256 and allows or
// denies; no policy, no replay protection, no log, no metrics. It uses
// grpc-go's defaults, the generic protobuf codec included, as a server
// written in a few lines would.
//
// The load generator (bench/loadgen) measures hookguard against it in the
// same run, so every figure is a ratio to doing nothing else.
//
//	FLOOR_SECRET=... floor -addr 127.0.0.1:9201
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type server struct {
	authv3.UnimplementedAuthorizationServer
	secret []byte
}

func (s *server) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	sig, ok := strings.CutPrefix(h.GetHeaders()["x-hub-signature-256"], "sha256=")
	want, err := hex.DecodeString(sig)
	if ok && err == nil {
		m := hmac.New(sha256.New, s.secret)
		m.Write(h.GetRawBody())
		if hmac.Equal(m.Sum(nil), want) {
			return &authv3.CheckResponse{
				Status:       &rpcstatus.Status{Code: int32(code.Code_OK)},
				HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
			}, nil
		}
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code.Code_UNAUTHENTICATED)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
		}},
	}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9201", "gRPC listen address")
	flag.Parse()
	secret := os.Getenv("FLOOR_SECRET")
	if secret == "" {
		log.Fatal("FLOOR_SECRET is not set")
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, &server{secret: []byte(secret)})
	hs := health.NewServer()
	hs.SetServingStatus("envoy.service.auth.v3.Authorization", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		gs.Stop()
	}()
	if err := gs.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
