package codec

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // grpc-go's codec, to compare with
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/grpctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rawCodec sends bytes as they are, so a client can send what no
// protobuf library would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return Name }

// observed is what the interceptor between the codec's two saw.
type observed struct {
	mu    sync.Mutex
	codes []codes.Code
}

func (o *observed) add(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes = append(o.codes, status.Code(err))
}

func (o *observed) last() []codes.Code {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]codes.Code(nil), o.codes...)
}

// startServer runs a health server with the codec and a chain like
// servicecenterd's: claim, observe (logging, metrics, audit stand-in),
// deny (authentication stand-in: denies calls with metadata deny), refuse.
func startServer(t *testing.T) (*Codec, *grpc.ClientConn, *observed) {
	t.Helper()
	c := New()
	obs := &observed{}
	deny := func(ctx context.Context) error {
		if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("deny")) > 0 {
			return status.Error(codes.Unauthenticated, "denied")
		}
		return nil
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(c),
		grpc.ChainUnaryInterceptor(c.UnaryInterceptor(),
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				resp, err := h(ctx, req)
				obs.add(err)
				return resp, err
			},
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if err := deny(ctx); err != nil {
					return nil, err
				}
				return h(ctx, req)
			},
			UnaryRefuse()),
		grpc.ChainStreamInterceptor(c.StreamInterceptor(),
			func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				err := h(srv, ss)
				obs.add(err)
				return err
			}))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	t.Cleanup(hs.Shutdown)
	return c, grpctest.Serve(t, srv), obs
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// badService is a HealthCheckRequest whose service is not UTF-8.
var badService = appendBytes(nil, 1, []byte("svc\xff"))

func TestServerAnswers(t *testing.T) {
	c, conn, obs := startServer(t)
	tests := []struct {
		name    string
		method  string
		stream  bool
		body    []byte
		md      []string
		want    codes.Code
		reason  string
		field   string
		chainOK bool // the call passed the observing interceptor
	}{
		{"unary: valid", healthpb.Health_Check_FullMethodName, false, appendBytes(nil, 1, []byte("")), nil, codes.OK, "", "", true},
		{"unary: invalid UTF-8", healthpb.Health_Check_FullMethodName, false, badService, nil, codes.InvalidArgument, ReasonInvalidUTF8, "service", true},
		{"unary: garbage", healthpb.Health_Check_FullMethodName, false, []byte{0xff, 0xff, 0xff}, nil, codes.InvalidArgument, ReasonMalformed, "", true},
		{"unary: garbage from a denied caller", healthpb.Health_Check_FullMethodName, false, []byte{0xff, 0xff, 0xff}, []string{"deny", "1"}, codes.Unauthenticated, "", "", true},
		{"stream: invalid UTF-8", healthpb.Health_Watch_FullMethodName, true, badService, nil, codes.InvalidArgument, ReasonInvalidUTF8, "service", true},
		{"stream: truncated", healthpb.Health_Watch_FullMethodName, true, append(protowire.AppendTag(nil, 1, protowire.BytesType), 9, 'a'), nil, codes.InvalidArgument, ReasonMalformed, "service", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(obs.last())
			cctx := ctx(t)
			if tt.md != nil {
				cctx = metadata.AppendToOutgoingContext(cctx, tt.md...)
			}
			var err error
			if tt.stream {
				var s grpc.ClientStream
				s, err = conn.NewStream(cctx, &grpc.StreamDesc{ServerStreams: true}, tt.method, grpc.ForceCodec(rawCodec{}))
				if err == nil {
					if err = s.SendMsg(tt.body); err == nil {
						_ = s.CloseSend()
						var out []byte
						err = s.RecvMsg(&out)
					}
				}
			} else {
				var out []byte
				err = conn.Invoke(cctx, tt.method, tt.body, &out, grpc.ForceCodec(rawCodec{}))
			}
			st := status.Convert(err)
			if st.Code() != tt.want {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tt.want)
			}
			if tt.reason != "" {
				var info *errdetails.ErrorInfo
				var br *errdetails.BadRequest
				for _, d := range st.Details() {
					switch d := d.(type) {
					case *errdetails.ErrorInfo:
						info = d
					case *errdetails.BadRequest:
						br = d
					}
				}
				if info == nil || info.GetReason() != tt.reason || info.GetDomain() != "servicecenterd" {
					t.Fatalf("ErrorInfo %v, want reason %s", info, tt.reason)
				}
				if tt.field != "" && (br == nil || br.GetFieldViolations()[0].GetField() != tt.field) {
					t.Fatalf("BadRequest %v, want field %s", br, tt.field)
				}
				if tt.field == "" && br != nil {
					t.Fatalf("BadRequest %v without a known field", br)
				}
			}
			got := obs.last()
			if tt.chainOK && (len(got) != before+1 || got[len(got)-1] != tt.want) {
				t.Fatalf("the interceptor saw %v after %d calls, want a last %v", got, before, tt.want)
			}
			if n := c.Pending(); n != 0 {
				t.Fatalf("%d records left", n)
			}
		})
	}
}

// collectUntil runs the garbage collector until c has no records left;
// it fails after 100 collections.
func collectUntil(t *testing.T, c *Codec) {
	t.Helper()
	for range 100 {
		if c.Pending() == 0 {
			return
		}
		runtime.GC()
		runtime.Gosched()
	}
	t.Fatalf("%d records never dropped", c.Pending())
}

// TestNoRecordLeft covers the calls grpc-go fails after decoding the
// request and before any interceptor: their records go with their
// messages.
func TestNoRecordLeft(t *testing.T) {
	c, conn, obs := startServer(t)
	unaryAsStream := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}

	t.Run("a second request message", func(t *testing.T) {
		s, err := conn.NewStream(ctx(t), unaryAsStream, healthpb.Health_Check_FullMethodName, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.SendMsg(badService); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.CloseSend()
		var out []byte
		if err := s.RecvMsg(&out); status.Code(err) != codes.Internal {
			t.Fatalf("grpc-go answered %v, want its cardinality violation", err)
		}
		collectUntil(t, c)
	})

	t.Run("a stream reset after the request", func(t *testing.T) {
		before := len(obs.last())
		cctx, cancel := context.WithCancel(ctx(t))
		s, err := conn.NewStream(cctx, unaryAsStream, healthpb.Health_Check_FullMethodName, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SendMsg(badService); err != nil {
			t.Fatal(err)
		}
		// The server decodes the request, then waits for the end of the
		// stream, which never comes.
		for range 10_000 {
			if c.Pending() == 1 {
				break
			}
			runtime.Gosched()
			time.Sleep(time.Millisecond)
		}
		if c.Pending() != 1 {
			t.Fatal("the server never decoded the request")
		}
		cancel()
		collectUntil(t, c)
		if got := obs.last(); len(got) != before {
			t.Fatalf("the call reached the interceptors: %v", got)
		}
	})
}

// BenchmarkUnmarshalDeep decodes an AssignWorkerRequest whose ext_json
// nests 6000 lists (42 KB): grpc-go's codec (protobuf-go's limit of
// 10,000 levels) and this one (MaxDepth), each refusing it.
func BenchmarkUnmarshalDeep(b *testing.B) {
	data := mem.BufferSlice{mem.SliceBuffer(marshal(b, assignWith(nestedLists(6000, "x"))))}
	c := New()
	for _, tc := range []struct {
		name string
		dec  func(*scv1.AssignWorkerRequest) error
	}{
		{"grpc-go", func(m *scv1.AssignWorkerRequest) error { return encoding.GetCodecV2(Name).Unmarshal(data, m) }},
		{"codec", func(m *scv1.AssignWorkerRequest) error {
			if err := c.Unmarshal(data, m); err != nil {
				return err
			}
			return c.take(m)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tc.dec(&scv1.AssignWorkerRequest{}) == nil {
					b.Fatal("decoded")
				}
			}
		})
	}
}
