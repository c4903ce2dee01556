// Package inprocess runs unary gRPC calls against a server's own services
// in the same process, through the server's unary interceptor chain,
// without encoding them into HTTP/2: a grpc.ClientConnInterface for the
// REST gateway.
//
// A call made through a Channel looks to the interceptors and handlers as
// a call over the network does: the request is encoded and decoded with
// the server's codec (so the handler gets its own message, decoded with
// the server's limits, and a decode failure is the codec's ordinary
// refused call), the handler's answer moves to the caller's reply
// message without a copy (see moveReply), the incoming metadata is the
// caller's outgoing metadata, the context carries the Channel's peer (the
// server can tell an in-process caller by its AuthInfo) and a
// grpc.ServerTransportStream, so
// grpc.Method, grpc.SetHeader, grpc.SendHeader and grpc.SetTrailer work
// and what they set reaches the caller's grpc.Header and grpc.Trailer
// call options. Errors are what a network caller gets: a handler's
// status error as it is, any other error as grpc-go's server maps it
// (status.FromContextError: context errors keep their code, the rest is
// UNKNOWN), messages over the size limits RESOURCE_EXHAUSTED, an unknown
// method UNIMPLEMENTED, a call whose context ended before it started its
// context's code. The server's context is derived from the caller's, so
// it ends when the caller's does (grpc-go's ends when the client's stream
// is cancelled) and also carries the caller's context values; the
// caller's outgoing metadata is emptied in it. Stats handlers (e.g. otelgrpc's, for tracing) get the
// client and the server side of each call: Begin, the headers and End.
// Payload events are not reported, and no transport-level metadata
// (:authority, user-agent, content-type) is added.
//
// Streaming calls are not run in the process: NewStream goes to the
// Channel's Streams connection (a real gRPC connection to the same
// server).
//
// Why our own code: grpc-go has no in-process transport, and the library
// the issue names (github.com/fullstorydev/grpchan's inprocgrpc) is not
// available from this build's module proxy; it also copies messages by
// its own cloner and runs no stats handlers. What is needed is small: a
// record of the registered services (Registry) and the call itself; the
// interceptors are chained as the server chains them (internal/rpc/chain).
package inprocess

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/servicecenterd/servicecenterd/internal/rpc/chain"
)

// Registry records the services registered on a gRPC server: it is a
// grpc.ServiceRegistrar that forwards each registration to the server
// and remembers the service's unary methods and implementation.
type Registry struct {
	next grpc.ServiceRegistrar
	mu   sync.Mutex
	// methods by full method name ("/pkg.Service/Method").
	methods map[string]method
	// services are the names of the services registered.
	services map[string]bool
}

// method is one registered unary method.
type method struct {
	desc *grpc.MethodDesc
	impl any
}

// NewRegistry returns a Registry forwarding to next (the *grpc.Server);
// next may be nil (the services are then only run in the process).
func NewRegistry(next grpc.ServiceRegistrar) *Registry {
	return &Registry{next: next, methods: map[string]method{}, services: map[string]bool{}}
}

// RegisterService implements grpc.ServiceRegistrar.
func (r *Registry) RegisterService(desc *grpc.ServiceDesc, impl any) {
	if r.next != nil {
		r.next.RegisterService(desc, impl)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.services[desc.ServiceName] = true
	for i := range desc.Methods {
		m := &desc.Methods[i]
		r.methods["/"+desc.ServiceName+"/"+m.MethodName] = method{desc: m, impl: impl}
	}
}

// Options configure a Channel.
type Options struct {
	// Interceptors are the server's unary interceptors, in the order given
	// to grpc.ChainUnaryInterceptor.
	Interceptors []grpc.UnaryServerInterceptor
	// Codec encodes requests and decodes them for the handler, as the
	// server's codec (grpc.ForceServerCodecV2) does; required. When it
	// has a method Size(proto.Message) int, the length of its encoding
	// (internal/rpc/codec's), answers are held to MaxSendMsgSize by it,
	// otherwise by proto.Size.
	Codec encoding.CodecV2
	// MaxRecvMsgSize and MaxSendMsgSize are the server's limits
	// (grpc.MaxRecvMsgSize, grpc.MaxSendMsgSize); 0 is grpc-go's default
	// (4 MiB and no limit).
	MaxRecvMsgSize, MaxSendMsgSize int
	// Peer is the peer the server sees (peer.FromContext); required.
	Peer *peer.Peer
	// ClientStats and ServerStats get the client's and the server's side
	// of each call; nil for none.
	ClientStats, ServerStats stats.Handler
	// Streams carries the streaming calls (NewStream); nil: they fail
	// UNIMPLEMENTED.
	Streams grpc.ClientConnInterface
}

// statusDetailsKey is the trailer of a status with details.
const statusDetailsKey = "grpc-status-details-bin"

// defaultMaxRecvMsgSize is grpc-go's default receive limit.
const defaultMaxRecvMsgSize = 4 << 20

// Channel is a grpc.ClientConnInterface whose unary calls run the
// registered services in the process (see the package comment).
type Channel struct {
	methods  map[string]method
	services map[string]bool
	chain    grpc.UnaryServerInterceptor
	o        Options
	// size is the length of an answer's encoding (see Options.Codec).
	size func(proto.Message) int

	mu sync.Mutex
	// stopping refuses new calls; calls are those in flight, which Stop
	// cancels.
	stopping bool
	calls    map[*call]struct{}
	inFlight sync.WaitGroup
}

var _ grpc.ClientConnInterface = (*Channel)(nil)

// NewChannel returns a Channel calling the services registered in reg so
// far.
func NewChannel(reg *Registry, o Options) (*Channel, error) {
	if o.Codec == nil || o.Peer == nil {
		return nil, errors.New("inprocess: a codec and a peer are required")
	}
	if o.MaxRecvMsgSize == 0 {
		o.MaxRecvMsgSize = defaultMaxRecvMsgSize
	}
	reg.mu.Lock()
	c := &Channel{methods: maps.Clone(reg.methods), services: maps.Clone(reg.services), o: o, calls: map[*call]struct{}{}}
	if len(o.Interceptors) > 0 {
		c.chain = chain.NewUnary(o.Interceptors).Intercept
	}
	reg.mu.Unlock()
	c.size = proto.Size
	if s, ok := o.Codec.(interface{ Size(proto.Message) int }); ok {
		c.size = s.Size
	}
	return c, nil
}

// GracefulStop refuses new calls (UNAVAILABLE) and waits for the calls
// in flight, as grpc.Server.GracefulStop does.
func (c *Channel) GracefulStop() {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	c.inFlight.Wait()
}

// Stop refuses new calls and cancels the contexts of the calls in
// flight, as grpc.Server.Stop ends them; it waits for them to return.
func (c *Channel) Stop() {
	c.mu.Lock()
	c.stopping = true
	for cl := range c.calls {
		cl.stop()
	}
	c.mu.Unlock()
	c.inFlight.Wait()
}

// begin records cl in flight; false once the Channel is stopping.
func (c *Channel) begin(cl *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	c.calls[cl] = struct{}{}
	c.inFlight.Add(1)
	return true
}

// end records that cl returned.
func (c *Channel) end(cl *call) {
	c.mu.Lock()
	delete(c.calls, cl)
	c.mu.Unlock()
	c.inFlight.Done()
}

// call is a unary call in flight: its grpc.ServerTransportStream and the
// cancellation of its server context, by which Stop ends it. Stop's
// cancellation is registered in the Channel with the call (begin), not
// as a context.AfterFunc of a Channel-wide context: that took two more
// allocations and two more locks, of a lock every call shared.
type call struct {
	stream transportStream
	mu     sync.Mutex
	// cancel ends the server's context, once it is made (serve).
	cancel context.CancelFunc
	// stopped: Stop ended the call (before its context was made,
	// serve cancels it as it makes it).
	stopped bool
}

// stop cancels the call's server context, now or as it is made.
func (cl *call) stop() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.stopped = true
	if cl.cancel != nil {
		cl.cancel()
	}
}

// cancelWith sets how the call's server context is cancelled; cancel
// runs at once when Stop came first.
func (cl *call) cancelWith(cancel context.CancelFunc) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.cancel = cancel
	if cl.stopped {
		cancel()
	}
}

// NewStream implements grpc.ClientConnInterface: streams go to
// Options.Streams.
func (c *Channel) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.o.Streams == nil {
		return nil, status.Errorf(codes.Unimplemented, "inprocess: no connection for the stream %s", method)
	}
	return c.o.Streams.NewStream(ctx, desc, method, opts...)
}

// Invoke implements grpc.ClientConnInterface: it runs the unary method
// through the interceptor chain in the process.
func (c *Channel) Invoke(ctx context.Context, fullMethod string, args, reply any, opts ...grpc.CallOption) error {
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	m, ok := c.methods[fullMethod]
	if !ok {
		return c.unknown(fullMethod)
	}
	req, ok := args.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %T is not a proto message", args)
	}
	out, ok := reply.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %T is not a proto message", reply)
	}
	cl := &call{stream: transportStream{method: fullMethod}}
	if !c.begin(cl) {
		return status.Error(codes.Unavailable, "inprocess: the server is stopping")
	}
	defer c.end(cl)

	begin := time.Now()
	if c.o.ClientStats != nil {
		ctx = c.o.ClientStats.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: fullMethod, FailFast: true})
		c.o.ClientStats.HandleRPC(ctx, &stats.Begin{Client: true, BeginTime: begin, FailFast: true})
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	if c.o.ClientStats != nil {
		c.o.ClientStats.HandleRPC(ctx, &stats.OutHeader{Client: true, FullMethod: fullMethod, Header: md.Copy(),
			RemoteAddr: c.o.Peer.LocalAddr, LocalAddr: c.o.Peer.Addr})
	}

	resp, err := c.serve(ctx, cl, m, req, md, begin)
	stream := &cl.stream
	if err == nil {
		err = c.moveReply(resp, out)
	}
	if err == nil && ctx.Err() != nil {
		// The caller gave up (or its deadline passed) while the server
		// answered: a network caller gets its context's error.
		err = status.FromContextError(ctx.Err()).Err()
	}
	header, trailer := stream.metadata()
	if st, ok := status.FromError(err); ok && len(st.Proto().GetDetails()) > 0 {
		// As a network caller's trailer holds the status with its details.
		if b, merr := proto.Marshal(st.Proto()); merr == nil {
			trailer = metadata.Join(trailer, metadata.Pairs(statusDetailsKey, string(b)))
		}
	}
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = trailer
		case grpc.PeerCallOption:
			*o.PeerAddr = peer.Peer{Addr: c.o.Peer.LocalAddr, LocalAddr: c.o.Peer.Addr}
		}
	}
	if c.o.ClientStats != nil {
		if len(header) > 0 {
			c.o.ClientStats.HandleRPC(ctx, &stats.InHeader{Client: true, FullMethod: fullMethod, Header: header.Copy()})
		}
		c.o.ClientStats.HandleRPC(ctx, &stats.InTrailer{Client: true, Trailer: trailer.Copy()})
		c.o.ClientStats.HandleRPC(ctx, &stats.End{Client: true, BeginTime: begin, EndTime: time.Now(), Trailer: trailer, Error: err})
	}
	return err
}

// unknown is grpc-go's answer to a method the server does not have.
func (c *Channel) unknown(fullMethod string) error {
	service, name, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !c.services[service] {
		return status.Errorf(codes.Unimplemented, "unknown service %v", service)
	}
	return status.Errorf(codes.Unimplemented, "unknown method %v for service %v", name, service)
}

// serve is the server's side of a call: the context a network call gets,
// the handler through the chain, the error as grpc-go's server answers
// it.
func (c *Channel) serve(ctx context.Context, cl *call, m method, req proto.Message, md metadata.MD, begin time.Time) (any, error) {
	stream, fullMethod := &cl.stream, cl.stream.method
	// What the caller's context holds for its own outgoing calls is not
	// the server's.
	ctx = metadata.NewOutgoingContext(ctx, nil)
	ctx = peer.NewContext(ctx, c.o.Peer)
	ctx = metadata.NewIncomingContext(ctx, md)
	ctx = grpc.NewContextWithServerTransportStream(ctx, stream)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl.cancelWith(cancel)
	if c.o.ServerStats != nil {
		ctx = c.o.ServerStats.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: fullMethod})
		c.o.ServerStats.HandleRPC(ctx, &stats.Begin{BeginTime: begin})
		c.o.ServerStats.HandleRPC(ctx, &stats.InHeader{FullMethod: fullMethod, Header: md.Copy(),
			RemoteAddr: c.o.Peer.Addr, LocalAddr: c.o.Peer.LocalAddr})
	}
	resp, err := m.desc.Handler(m.impl, ctx, c.decoder(req), c.chain)
	if err != nil {
		st, ok := status.FromError(err)
		if !ok {
			st = status.FromContextError(err)
		}
		err = st.Err()
	} else if resp == nil {
		err = status.Error(codes.Internal, "grpc: error while marshaling: the handler returned no message")
	} else if c.o.MaxSendMsgSize > 0 {
		if n := c.size(resp.(proto.Message)); n > c.o.MaxSendMsgSize {
			err = status.Errorf(codes.ResourceExhausted, "trying to send message larger than max (%d vs. %d)", n, c.o.MaxSendMsgSize)
		}
	}
	stream.finish()
	if c.o.ServerStats != nil {
		header, trailer := stream.metadata()
		c.o.ServerStats.HandleRPC(ctx, &stats.OutHeader{FullMethod: fullMethod, Header: header.Copy()})
		c.o.ServerStats.HandleRPC(ctx, &stats.OutTrailer{Trailer: trailer.Copy()})
		c.o.ServerStats.HandleRPC(ctx, &stats.End{BeginTime: begin, EndTime: time.Now(), Trailer: trailer, Error: err})
	}
	return resp, err
}

// decoder is the handler's dec: the request encoded and decoded with the
// server's codec into the handler's own message, within the receive
// limit.
func (c *Channel) decoder(req proto.Message) func(any) error {
	return func(v any) error {
		data, err := c.o.Codec.Marshal(req)
		if err != nil {
			return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
		}
		defer data.Free()
		if n := data.Len(); n > c.o.MaxRecvMsgSize {
			return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, c.o.MaxRecvMsgSize)
		}
		if err := c.o.Codec.Unmarshal(data, v); err != nil {
			return status.Errorf(codes.Internal, "grpc: error unmarshalling request: %v", err)
		}
		return nil
	}
}

// moveReply hands the handler's answer to the caller: it moves into the
// caller's reply message, which then holds the answer's messages, lists
// and maps themselves, not copies. Nothing on the server uses an answer
// once the chain has returned it (grpc-go only encodes it then; the
// interceptors that look at it, audit and idempotency keys, take what
// they need before they return it), so the caller owns it, as it owns a
// message decoded from the network. An answer of the caller's own Go
// type (the generated client's) moves as a whole struct: the
// MessageState it carries is per type, and the answer is not used
// again; another (such as a dynamicpb message of the same descriptor)
// moves field by field.
func (c *Channel) moveReply(resp any, out proto.Message) error {
	msg, ok := resp.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %T is not a proto message", resp)
	}
	src, dst := msg.ProtoReflect(), out.ProtoReflect()
	if src.Descriptor() != dst.Descriptor() {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %s into %s",
			src.Descriptor().FullName(), dst.Descriptor().FullName())
	}
	if from, to := reflect.ValueOf(msg), reflect.ValueOf(out); from.Type() == to.Type() &&
		from.Kind() == reflect.Pointer && !from.IsNil() && !to.IsNil() {
		to.Elem().Set(from.Elem())
		return nil
	}
	proto.Reset(out)
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	if u := src.GetUnknown(); len(u) > 0 {
		dst.SetUnknown(u)
	}
	return nil
}

// transportStream is a call's grpc.ServerTransportStream: it keeps the
// header and trailer the server sets.
type transportStream struct {
	method string
	mu     sync.Mutex
	header metadata.MD
	// sent: the header went out (SendHeader, or the call ended).
	sent    bool
	trailer metadata.MD
	// done: the call ended; nothing can be set any more.
	done bool
}

var _ grpc.ServerTransportStream = (*transportStream)(nil)

// errHeaderSent is grpc-go's error for a header set after it was sent.
var errHeaderSent = status.Error(codes.Internal, "transport: SendHeader called multiple times")

// errStreamDone is the error for a trailer set after the call ended.
var errStreamDone = status.Error(codes.Internal, "transport: the stream is done")

// Method implements grpc.ServerTransportStream.
func (s *transportStream) Method() string { return s.method }

// SetHeader implements grpc.ServerTransportStream: md is merged into the
// header, until it is sent.
func (s *transportStream) SetHeader(md metadata.MD) error {
	if md.Len() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return errHeaderSent
	}
	s.header = metadata.Join(s.header, md)
	return nil
}

// SendHeader implements grpc.ServerTransportStream.
func (s *transportStream) SendHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return errHeaderSent
	}
	s.header = metadata.Join(s.header, md)
	s.sent = true
	return nil
}

// SetTrailer implements grpc.ServerTransportStream: md is merged into the
// trailer.
func (s *transportStream) SetTrailer(md metadata.MD) error {
	if md.Len() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errStreamDone
	}
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

// finish ends the call: the header can no longer change.
func (s *transportStream) finish() {
	s.mu.Lock()
	s.sent, s.done = true, true
	s.mu.Unlock()
}

// metadata returns the header and the trailer the server set.
func (s *transportStream) metadata() (header, trailer metadata.MD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header, s.trailer
}
