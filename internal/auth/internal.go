package auth

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"
)

// The REST gateway's hop to gRPC.
//
// The gateway turns REST calls into gRPC calls to our own gRPC server's
// services, so that they pass the same interceptors. It never dials the
// public gRPC listener. Its unary calls run in the process
// (internal/rpc/inprocess), with InternalListener.Peer as their peer;
// its streams (uploads, watches) dial an in-memory listener
// (InternalListener) served by the same *grpc.Server, and
// ServerCredentials marks connections from that listener with
// InternalAuthInfo while doing the real (TLS or plaintext) handshake for
// every other connection. Only a call with InternalAuthInfo has its
// VerifiedSANHeader and GatewayDeniedHeader metadata believed: they carry
// the SANs of the client certificate the HTTP server verified (mTLS over
// REST) and the REST layer's denial. Exactly two pieces of code create
// InternalAuthInfo: InternalListener.Peer, given only to the gateway's
// in-process channel (internal/server), and ServerCredentials' handshake
// of a connection accepted by an InternalListener, which is never a
// network connection (a connection from the network is a *net.TCPConn,
// or TLS over one, never an internalConn). So no external caller can
// obtain InternalAuthInfo, whatever it sends; the gateway in addition
// refuses to forward any x-servicecenterd-* header from HTTP
// (ForwardableHeader). Bearer tokens need no such hop: the gateway
// forwards the Authorization header and gRPC checks it as for any
// caller.

// VerifiedSANHeader is the metadata key with which the gateway passes the
// SANs of the HTTP caller's verified client certificate; it is believed
// only on internal connections.
const VerifiedSANHeader = "x-servicecenterd-verified-san"

// GatewayDeniedHeader is the metadata key with which the REST layer marks
// a call it refused before reading its body (it authenticates REST calls
// itself first, so that a caller without the right costs no body read); the
// value is the denial's reason. The call still goes to gRPC, with no body,
// so that the denial is answered, logged, counted and audited like any;
// the marker makes sure it is denied there even if the clients file
// changed in between. Believed only on internal connections.
const GatewayDeniedHeader = "x-servicecenterd-denied"

// reservedPrefix starts every metadata key only the gateway may set.
const reservedPrefix = "x-servicecenterd-"

// internalBufferSize is the in-memory connection's buffer per direction.
const internalBufferSize = 1 << 20

// InternalListener is the in-memory listener of the gateway's connections.
type InternalListener struct {
	l *bufconn.Listener
}

// NewInternalListener returns an in-memory listener; serve it with the
// gRPC server and dial it with DialContext.
func NewInternalListener() *InternalListener {
	return &InternalListener{l: bufconn.Listen(internalBufferSize)}
}

// Accept implements net.Listener.
func (l *InternalListener) Accept() (net.Conn, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	return internalConn{c}, nil
}

// Close implements net.Listener.
func (l *InternalListener) Close() error { return l.l.Close() }

// Addr implements net.Listener.
func (l *InternalListener) Addr() net.Addr { return l.l.Addr() }

// DialContext connects to the listener (grpc.WithContextDialer).
func (l *InternalListener) DialContext(ctx context.Context, _ string) (net.Conn, error) {
	return l.l.DialContext(ctx)
}

// internalConn is a server-side connection accepted by InternalListener.
type internalConn struct{ net.Conn }

// InternalAuthInfo marks a gRPC connection from the REST gateway.
type InternalAuthInfo struct {
	credentials.CommonAuthInfo
}

// AuthType implements credentials.AuthInfo.
func (InternalAuthInfo) AuthType() string { return "servicecenterd-internal" }

func internalAuthInfo() InternalAuthInfo {
	return InternalAuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
}

// Peer is the peer of the gateway's in-process calls
// (internal/rpc/inprocess): InternalAuthInfo, and the listener's address
// as a connection from it has.
func (l *InternalListener) Peer() *peer.Peer {
	return &peer.Peer{Addr: l.Addr(), LocalAddr: l.Addr(), AuthInfo: internalAuthInfo()}
}

// ServerCredentials wraps the gRPC server's transport credentials (TLS or
// insecure): connections from an InternalListener skip the handshake and
// get InternalAuthInfo; every other connection gets base's handshake.
func ServerCredentials(base credentials.TransportCredentials) credentials.TransportCredentials {
	return &serverCreds{base: base}
}

type serverCreds struct {
	base credentials.TransportCredentials
}

func (c *serverCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if ic, ok := conn.(internalConn); ok {
		return ic, internalAuthInfo(), nil
	}
	return c.base.ServerHandshake(conn)
}

func (c *serverCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.base.ClientHandshake(ctx, authority, conn)
}

func (c *serverCreds) Info() credentials.ProtocolInfo { return c.base.Info() }

func (c *serverCreds) Clone() credentials.TransportCredentials {
	return &serverCreds{base: c.base.Clone()}
}

// OverrideServerName is deprecated, but still part of the interface.
func (c *serverCreds) OverrideServerName(name string) error { return c.base.OverrideServerName(name) }
