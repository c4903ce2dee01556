// Package grpctest serves a test's gRPC server on a loopback port and
// dials it, the setup many packages' tests share.
package grpctest

import (
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Serve serves srv on a free port of 127.0.0.1 and returns a client
// connection to it (no TLS). When the test ends the connection is closed,
// then srv stopped.
func Serve(t testing.TB, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("grpctest: listen: %v", err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpctest: dial %s: %v", lis.Addr(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
