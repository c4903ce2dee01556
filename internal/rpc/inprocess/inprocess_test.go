package inprocess_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the proto codec
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc/codec"
	"github.com/servicecenterd/servicecenterd/internal/rpc/inprocess"
	"github.com/servicecenterd/servicecenterd/internal/testutil/demoanswer"
	"github.com/servicecenterd/servicecenterd/internal/testutil/grpctest"
)

// Limits of the test server, small enough to reach.
const (
	maxRecv = 1 << 10
	maxSend = 1 << 10
)

// workers is a WorkerService whose GetWorkerTags does what the request's
// mobile says (see the cases of TestSameAsNetwork).
type workers struct {
	scv1.UnimplementedWorkerServiceServer
}

func (workers) GetWorkerTags(ctx context.Context, req *scv1.GetWorkerTagsRequest) (*scv1.GetWorkerTagsResponse, error) {
	switch req.GetMobile() {
	case "headers":
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-one", "1"))
		_ = grpc.SendHeader(ctx, metadata.Pairs("x-two", "2"))
		if err := grpc.SetHeader(ctx, metadata.Pairs("x-late", "3")); err == nil {
			return nil, status.Error(codes.Internal, "a header was set after it was sent")
		}
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t", "x-trailer", "u"))
		// The caller's metadata, and the method, as the server sees them.
		md, _ := metadata.FromIncomingContext(ctx)
		return &scv1.GetWorkerTagsResponse{Success: true, MsgInfo: strings.Join(md.Get("x-caller"), ",") + " " + grpc.ServerTransportStreamFromContext(ctx).Method()}, nil
	case "details":
		st, _ := status.New(codes.FailedPrecondition, "no such worker").WithDetails(&errdetails.ErrorInfo{Reason: "WORKER_UNKNOWN", Domain: "test"})
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "on error"))
		return nil, st.Err()
	case "plain":
		return nil, errors.New("a plain error")
	case "deadline":
		return nil, context.DeadlineExceeded
	case "wrapped":
		return nil, errors.Join(errors.New("context"), context.Canceled)
	case "panic":
		panic("handler panic")
	case "wait":
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	case "big":
		return &scv1.GetWorkerTagsResponse{MsgInfo: strings.Repeat("x", 2*maxSend)}, nil
	case "demo":
		return demoAnswer(), nil
	}
	return &scv1.GetWorkerTagsResponse{Success: true, TopRequestId: req.GetIdNumber()}, nil
}

// demoAnswer is the emulator's demo answer of GetWorkerTags with a
// google.protobuf.Struct and a field the caller's type does not know.
func demoAnswer() *scv1.GetWorkerTagsResponse {
	m := demoanswer.GetWorkerTags()
	m.GetResultData().GetAbilityMap()["tv_install"].Extra = &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("v")}}
	m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 7))
	return m
}

// fixture is one server, reachable over loopback TCP and in the process,
// with the same chain: a recorder of what the chain sees, then recovery.
type fixture struct {
	network scv1.WorkerServiceClient
	channel *inprocess.Channel
	local   scv1.WorkerServiceClient
	peer    *peer.Peer
	mu      sync.Mutex
	seen    []seen
}

// seen is what the first interceptor saw of a call.
type seen struct {
	method   string
	peer     *peer.Peer
	incoming metadata.MD
	outgoing bool // the server's context has outgoing metadata
	deadline time.Time
}

// testAuthInfo marks the in-process peer.
type testAuthInfo struct{ credentials.CommonAuthInfo }

func (testAuthInfo) AuthType() string { return "test-inprocess" }

func newFixture(t *testing.T, o inprocess.Options) *fixture {
	t.Helper()
	f := &fixture{}
	record := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		s := seen{method: info.FullMethod}
		s.peer, _ = peer.FromContext(ctx)
		s.incoming, _ = metadata.FromIncomingContext(ctx)
		out, _ := metadata.FromOutgoingContext(ctx)
		s.outgoing = len(out) > 0
		s.deadline, _ = ctx.Deadline()
		if m, ok := grpc.Method(ctx); !ok || m != info.FullMethod {
			return nil, status.Errorf(codes.Internal, "grpc.Method: %q", m)
		}
		f.mu.Lock()
		f.seen = append(f.seen, s)
		f.mu.Unlock()
		return handler(ctx, req)
	}
	chain := []grpc.UnaryServerInterceptor{record, recovery.UnaryServerInterceptor()}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(chain...), grpc.MaxRecvMsgSize(maxRecv), grpc.MaxSendMsgSize(maxSend))
	reg := inprocess.NewRegistry(srv)
	scv1.RegisterWorkerServiceServer(reg, workers{})
	conn := grpctest.Serve(t, srv)
	f.network = scv1.NewWorkerServiceClient(conn)

	f.peer = &peer.Peer{Addr: &net.UnixAddr{Name: "caller", Net: "unix"}, AuthInfo: testAuthInfo{}}
	o.Interceptors, o.Codec, o.Peer = chain, encoding.GetCodecV2("proto"), f.peer
	o.MaxRecvMsgSize, o.MaxSendMsgSize = maxRecv, maxSend
	if o.Streams == nil {
		o.Streams = conn
	}
	var err error
	if f.channel, err = inprocess.NewChannel(reg, o); err != nil {
		t.Fatal(err)
	}
	f.local = scv1.NewWorkerServiceClient(f.channel)
	return f
}

func (f *fixture) last(t *testing.T) seen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the chain saw no call")
	}
	return f.seen[len(f.seen)-1]
}

// result is what a caller gets of a call.
type result struct {
	resp            *scv1.GetWorkerTagsResponse
	st              *status.Status
	header, trailer metadata.MD
}

func call(ctx context.Context, c scv1.WorkerServiceClient, req *scv1.GetWorkerTagsRequest) result {
	var r result
	resp, err := c.GetWorkerTags(ctx, req, grpc.Header(&r.header), grpc.Trailer(&r.trailer))
	r.resp, r.st = resp, status.Convert(err)
	// Transport metadata only the network has.
	delete(r.header, "content-type")
	delete(r.trailer, "content-type")
	if len(r.header) == 0 {
		r.header = nil
	}
	if len(r.trailer) == 0 {
		r.trailer = nil
	}
	return r
}

// TestSameAsNetwork: each call answers in the process exactly what it
// answers over a real gRPC connection to the same server and chain: the
// response, the status with its details, the header and the trailer.
func TestSameAsNetwork(t *testing.T) {
	f := newFixture(t, inprocess.Options{})
	tests := []struct {
		name string
		req  *scv1.GetWorkerTagsRequest
		code codes.Code
	}{
		{"ok", &scv1.GetWorkerTagsRequest{Mobile: "ok", IdNumber: "id-1"}, codes.OK},
		{"nested answer, unknown field", &scv1.GetWorkerTagsRequest{Mobile: "demo"}, codes.OK},
		{"headers and trailers", &scv1.GetWorkerTagsRequest{Mobile: "headers"}, codes.OK},
		{"status with details", &scv1.GetWorkerTagsRequest{Mobile: "details"}, codes.FailedPrecondition},
		{"plain error", &scv1.GetWorkerTagsRequest{Mobile: "plain"}, codes.Unknown},
		{"context error", &scv1.GetWorkerTagsRequest{Mobile: "deadline"}, codes.DeadlineExceeded},
		{"wrapped context error", &scv1.GetWorkerTagsRequest{Mobile: "wrapped"}, codes.Canceled},
		{"panic recovered by the chain", &scv1.GetWorkerTagsRequest{Mobile: "panic"}, codes.Unknown},
		{"request too large", &scv1.GetWorkerTagsRequest{Mobile: "ok", IdNumber: strings.Repeat("1", 2*maxRecv)}, codes.ResourceExhausted},
		{"response too large", &scv1.GetWorkerTagsRequest{Mobile: "big"}, codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(t.Context(), "x-caller", "a", "x-caller", "b")
			net, local := call(ctx, f.network, tt.req), call(ctx, f.local, tt.req)
			if net.st.Code() != tt.code {
				t.Fatalf("network: %v, want %v", net.st, tt.code)
			}
			if tt.req.GetMobile() == "panic" {
				// The recovery's message holds the stack.
				net.st, local.st = status.New(net.st.Code(), ""), status.New(local.st.Code(), "")
			}
			if !proto.Equal(local.st.Proto(), net.st.Proto()) {
				t.Errorf("status: in process %v, network %v", local.st.Proto(), net.st.Proto())
			}
			if !proto.Equal(local.resp, net.resp) {
				t.Errorf("response: in process %v, network %v", local.resp, net.resp)
			}
			if !equalMD(local.header, net.header) || !equalMD(local.trailer, net.trailer) {
				t.Errorf("header, trailer: in process %v %v, network %v %v", local.header, local.trailer, net.header, net.trailer)
			}
		})
	}
	// The request is the server's own: the handler's message is not the
	// caller's.
	req := &scv1.GetWorkerTagsRequest{Mobile: "ok", IdNumber: "id-2"}
	if r := call(t.Context(), f.local, req); r.resp.GetTopRequestId() != "id-2" || req.GetIdNumber() != "id-2" {
		t.Fatalf("%v %v", r.resp, req)
	}
}

func equalMD(a, b metadata.MD) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestServerContext: the chain sees the Channel's peer, the caller's
// outgoing metadata as incoming (and no outgoing metadata), the
// caller's deadline and the method; unknown methods are UNIMPLEMENTED as
// over the network.
func TestServerContext(t *testing.T) {
	f := newFixture(t, inprocess.Options{})
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-caller", "c", "authorization", "Bearer t")
	if r := call(ctx, f.local, &scv1.GetWorkerTagsRequest{Mobile: "headers"}); r.st.Code() != codes.OK ||
		r.resp.GetMsgInfo() != "c /servicecenter.v1.WorkerService/GetWorkerTags" {
		t.Fatalf("%v %v", r.st, r.resp)
	}
	s := f.last(t)
	if s.peer != f.peer || s.outgoing || !s.deadline.Equal(deadline) || s.method != scv1.WorkerService_GetWorkerTags_FullMethodName ||
		!equalMD(s.incoming, metadata.Pairs("x-caller", "c", "authorization", "Bearer t")) {
		t.Fatalf("the chain saw %+v", s)
	}

	for _, tt := range []struct{ method, want string }{
		{"/servicecenter.v1.WorkerService/Nope", "unknown method Nope for service servicecenter.v1.WorkerService"},
		{"/nope.Service/Call", "unknown service nope.Service"},
	} {
		for name, cc := range map[string]grpc.ClientConnInterface{"in process": f.channel} {
			err := cc.Invoke(t.Context(), tt.method, &scv1.GetWorkerTagsRequest{}, &scv1.GetWorkerTagsResponse{})
			if st := status.Convert(err); st.Code() != codes.Unimplemented || st.Message() != tt.want {
				t.Errorf("%s %s: %v", name, tt.method, err)
			}
		}
	}
	// An implemented method's answer is the service's own.
	if _, err := f.local.UpdateWorker(t.Context(), &scv1.UpdateWorkerRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("UpdateWorker: %v", err)
	}
}

// TestReplyTypes: the answer reaches a reply message that is not of the
// handler's Go type (a dynamic message of the same type), one that held
// an earlier answer, and a reply of another type is refused.
func TestReplyTypes(t *testing.T) {
	f := newFixture(t, inprocess.Options{})
	req := &scv1.GetWorkerTagsRequest{Mobile: "demo"}
	method := scv1.WorkerService_GetWorkerTags_FullMethodName
	dyn := dynamicpb.NewMessage((&scv1.GetWorkerTagsResponse{}).ProtoReflect().Descriptor())
	used := &scv1.GetWorkerTagsResponse{MsgCode: "earlier", ResultData: &scv1.WorkerTag{Vip: true, BigPromotion: false}}
	for name, reply := range map[string]proto.Message{"dynamic": dyn, "used": used} {
		if err := f.channel.Invoke(t.Context(), method, req, reply); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !proto.Equal(reply, demoAnswer()) {
			t.Errorf("%s: %v, want %v", name, reply, demoAnswer())
		}
	}
	err := f.channel.Invoke(t.Context(), method, req, &scv1.UpdateWorkerResponse{})
	if st := status.Convert(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "GetWorkerTagsResponse into servicecenter.v1.UpdateWorkerResponse") {
		t.Fatalf("reply of another type: %v", err)
	}
}

// TestCancellation: a call whose context ended never reaches the chain;
// one cancelled or past its deadline while the handler waits ends with
// its context's code.
func TestCancellation(t *testing.T) {
	f := newFixture(t, inprocess.Options{})
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if r := call(done, f.local, &scv1.GetWorkerTagsRequest{Mobile: "ok"}); r.st.Code() != codes.Canceled || len(f.seen) != 0 {
		t.Fatalf("cancelled before the call: %v, %d calls seen", r.st, len(f.seen))
	}

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if r := call(ctx, f.local, &scv1.GetWorkerTagsRequest{Mobile: "wait"}); r.st.Code() != codes.Canceled {
		t.Fatalf("cancelled during the call: %v", r.st)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if r := call(ctx, f.local, &scv1.GetWorkerTagsRequest{Mobile: "wait"}); r.st.Code() != codes.DeadlineExceeded {
		t.Fatalf("deadline during the call: %v", r.st)
	}
}

// TestStop: GracefulStop waits for the calls in flight and refuses new
// ones; Stop cancels the calls in flight.
func TestStop(t *testing.T) {
	t.Run("graceful", func(t *testing.T) {
		f := newFixture(t, inprocess.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		got := make(chan result, 1)
		go func() { got <- call(ctx, f.local, &scv1.GetWorkerTagsRequest{Mobile: "wait"}) }()
		waitSeen(t, f, 1)
		stopped := make(chan struct{})
		go func() {
			f.channel.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
			t.Fatal("GracefulStop returned with a call in flight")
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		if r := <-got; r.st.Code() != codes.Canceled {
			t.Fatalf("call in flight: %v", r.st)
		}
		<-stopped
		if r := call(t.Context(), f.local, &scv1.GetWorkerTagsRequest{Mobile: "ok"}); r.st.Code() != codes.Unavailable {
			t.Fatalf("after GracefulStop: %v", r.st)
		}
	})
	t.Run("stop", func(t *testing.T) {
		f := newFixture(t, inprocess.Options{})
		got := make(chan result, 1)
		go func() { got <- call(t.Context(), f.local, &scv1.GetWorkerTagsRequest{Mobile: "wait"}) }()
		waitSeen(t, f, 1)
		f.channel.Stop()
		if r := <-got; r.st.Code() != codes.Canceled {
			t.Fatalf("call in flight: %v", r.st)
		}
	})
}

func waitSeen(t *testing.T, f *fixture, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f.mu.Lock()
		k := len(f.seen)
		f.mu.Unlock()
		if k >= n {
			return
		}
	}
	t.Fatalf("the chain did not see %d calls", n)
}

// recorder is a stats.Handler that records what it is told.
type recorder struct {
	side   string
	mu     *sync.Mutex
	events *[]string
}

type tagKey struct{}

func (r recorder) add(e string) {
	r.mu.Lock()
	*r.events = append(*r.events, r.side+" "+e)
	r.mu.Unlock()
}

func (r recorder) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	r.add("tag " + info.FullMethodName + " " + strings.Join(md.Get("x-trace"), ","))
	if r.side == "client" {
		// As otelgrpc's client handler injects the trace context.
		ctx = metadata.AppendToOutgoingContext(ctx, "x-trace", "from-client")
	}
	return context.WithValue(ctx, tagKey{}, r.side)
}

func (r recorder) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if ctx.Value(tagKey{}) != r.side {
		r.add("untagged context")
	}
	switch s := s.(type) {
	case *stats.Begin:
		r.add("begin")
	case *stats.End:
		r.add("end " + status.Code(s.Error).String())
	}
}

func (r recorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (r recorder) HandleConn(context.Context, stats.ConnStats)                       {}

// TestStatsHandlers: the client's and the server's stats handlers see
// each call, the server's tagged with what the client's put in the
// metadata (so that a trace continues), each side with its own tagged
// context and the call's status.
func TestStatsHandlers(t *testing.T) {
	var mu sync.Mutex
	var events []string
	f := newFixture(t, inprocess.Options{
		ClientStats: recorder{side: "client", mu: &mu, events: &events},
		ServerStats: recorder{side: "server", mu: &mu, events: &events},
	})
	call(t.Context(), f.local, &scv1.GetWorkerTagsRequest{Mobile: "details"})
	want := []string{
		"client tag /servicecenter.v1.WorkerService/GetWorkerTags ", "client begin",
		"server tag /servicecenter.v1.WorkerService/GetWorkerTags from-client", "server begin",
		"server end FailedPrecondition", "client end FailedPrecondition",
	}
	if strings.Join(events, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
	if s := f.last(t); strings.Join(s.incoming.Get("x-trace"), ",") != "from-client" {
		t.Fatalf("the chain saw %v", s.incoming)
	}
}

// TestStreams: streams go to the Streams connection.
func TestStreams(t *testing.T) {
	f := newFixture(t, inprocess.Options{})
	desc := &grpc.StreamDesc{StreamName: "WatchEvents", ServerStreams: true}
	// The fixture's server has no EventService: its answer, over the
	// network, is UNIMPLEMENTED for the unknown service.
	cs, err := f.channel.NewStream(t.Context(), desc, scv1.EventService_WatchEvents_FullMethodName)
	if err == nil {
		err = cs.SendMsg(&scv1.WatchEventsRequest{})
		if err == nil {
			err = cs.RecvMsg(&scv1.WatchEventsResponse{})
		}
	}
	if st := status.Convert(err); st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "unknown service servicecenter.v1.EventService") {
		t.Fatalf("stream: %v", err)
	}
}

// benchClient is a client of a Channel to workers with no interceptors,
// and servicecenterd's codec; the Channel stops when b ends.
func benchClient(b *testing.B) scv1.WorkerServiceClient {
	b.Helper()
	reg := inprocess.NewRegistry(nil)
	scv1.RegisterWorkerServiceServer(reg, workers{})
	ch, err := inprocess.NewChannel(reg, inprocess.Options{
		Codec: codec.New(), MaxSendMsgSize: maxSend,
		Peer: &peer.Peer{Addr: &net.UnixAddr{Name: "caller", Net: "unix"}, AuthInfo: testAuthInfo{}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ch.Stop)
	return scv1.NewWorkerServiceClient(ch)
}

// BenchmarkInvoke is the in-process hop of a REST call with no
// interceptors: the request encoded and decoded by the server's codec,
// the server's context, the answer handed to the caller.
func BenchmarkInvoke(b *testing.B) {
	client := benchClient(b)
	for _, mobile := range []string{"ok", "demo"} {
		req := &scv1.GetWorkerTagsRequest{Mobile: mobile, IdNumber: "11010519491231002X"}
		b.Run(mobile, func(b *testing.B) {
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.GetWorkerTags(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInvokeParallel is BenchmarkInvoke's flat answer from 64
// callers at once (two per GOMAXPROCS at 32), where calls share the
// Channel's lock.
func BenchmarkInvokeParallel(b *testing.B) {
	client := benchClient(b)
	req := &scv1.GetWorkerTagsRequest{Mobile: "ok", IdNumber: "11010519491231002X"}
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx, cancel := context.WithCancel(b.Context())
		defer cancel()
		for pb.Next() {
			if _, err := client.GetWorkerTags(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
