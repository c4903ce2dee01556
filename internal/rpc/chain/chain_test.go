package chain_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/rpc/chain"
	"github.com/servicecenterd/servicecenterd/internal/testutil/grpctest"
)

// trace records what interceptors saw, in order.
type trace struct {
	mu     sync.Mutex
	events []string
}

func (t *trace) add(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, fmt.Sprintf(format, args...))
}

func (t *trace) take() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.events
	t.events = nil
	return e
}

type ctxKey struct{}

// interceptor makes one interceptor recording into t.
type interceptor func(t *trace) grpc.UnaryServerInterceptor

// record logs its name, the method and the request on the way in, and
// the answer's code on the way out.
func record(name string) interceptor {
	return func(t *trace) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			t.add("%s > %s %v value=%v", name, info.FullMethod, req, ctx.Value(ctxKey{}))
			resp, err := handler(ctx, req)
			t.add("%s < %s %v", name, status.Code(err), resp)
			return resp, err
		}
	}
}

// withValue passes a context value to what follows.
func withValue(v string) interceptor {
	return func(*trace) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			return handler(context.WithValue(ctx, ctxKey{}, v), req)
		}
	}
}

// refuse answers PERMISSION_DENIED without calling its handler.
func refuse() interceptor {
	return func(t *trace) grpc.UnaryServerInterceptor {
		return func(_ context.Context, _ any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
			t.add("refuse %s", info.FullMethod)
			return nil, status.Error(codes.PermissionDenied, "refused")
		}
	}
}

// twice calls its handler twice, the second time with the service "b",
// and answers the second call's answer.
func twice() interceptor {
	return func(*trace) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if _, err := handler(ctx, req); err != nil {
				return nil, err
			}
			if _, ok := req.(*healthpb.HealthCheckRequest); ok {
				req = &healthpb.HealthCheckRequest{Service: "b"}
			}
			return handler(ctx, req)
		}
	}
}

// serve starts a gRPC server on loopback with the health service (one
// service "a" SERVING, "b" NOT_SERVING) and the interceptors as opt
// chains them, and returns a client.
func serve(t *testing.T, opt func([]grpc.UnaryServerInterceptor) grpc.ServerOption, ics []grpc.UnaryServerInterceptor) healthpb.HealthClient {
	t.Helper()
	srv := grpc.NewServer(opt(ics))
	h := health.NewServer()
	h.SetServingStatus("a", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus("b", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, h)
	return healthpb.NewHealthClient(grpctest.Serve(t, srv))
}

// library is grpc-go's own chain; ours is Unary.
func library(ics []grpc.UnaryServerInterceptor) grpc.ServerOption {
	return grpc.ChainUnaryInterceptor(ics...)
}

func ours(ics []grpc.UnaryServerInterceptor) grpc.ServerOption {
	return grpc.UnaryInterceptor(chain.NewUnary(ics).Intercept)
}

// calls makes the same calls on c and returns what each answered.
func calls(ctx context.Context, c healthpb.HealthClient) []string {
	var out []string
	for _, svc := range []string{"a", "b", "a", "missing"} {
		resp, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		out = append(out, fmt.Sprintf("Check(%s): %v %v", svc, status.Code(err), resp.GetStatus()))
	}
	for range 2 {
		resp, err := c.List(ctx, &healthpb.HealthListRequest{})
		var names []string
		for name := range resp.GetStatuses() {
			names = append(names, name)
		}
		slices.Sort(names)
		out = append(out, fmt.Sprintf("List: %v %s", status.Code(err), strings.Join(names, ",")))
	}
	return out
}

// TestUnaryAsLibrary runs the same calls through grpc-go's chain and
// through Unary on real servers and wants the same answers and the same
// trace of what each interceptor saw and answered, in the same order.
func TestUnaryAsLibrary(t *testing.T) {
	for _, tc := range []struct {
		name string
		ics  []interceptor
		// want is the answers' first line, to check the case tests what
		// it means to.
		want string
	}{
		{"none", nil, "Check(a): OK SERVING"},
		{"one", []interceptor{record("1")}, "Check(a): OK SERVING"},
		{"order and values", []interceptor{record("1"), withValue("v"), record("2"), record("3")}, "Check(a): OK SERVING"},
		{"refused in the middle", []interceptor{record("1"), refuse(), record("2")}, "Check(a): PermissionDenied UNKNOWN"},
		{"handler called twice", []interceptor{record("1"), twice(), record("2")}, "Check(a): OK NOT_SERVING"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2][]string
			var traces [2][]string
			for i, opt := range []func([]grpc.UnaryServerInterceptor) grpc.ServerOption{library, ours} {
				tr := &trace{}
				var ics []grpc.UnaryServerInterceptor
				for _, mk := range tc.ics {
					ics = append(ics, mk(tr))
				}
				got[i] = calls(t.Context(), serve(t, opt, ics))
				traces[i] = tr.take()
			}
			if got[0][0] != tc.want {
				t.Fatalf("first answer %q, want %q", got[0][0], tc.want)
			}
			if !slices.Equal(got[0], got[1]) {
				t.Errorf("answers differ:\nlibrary %q\nours    %q", got[0], got[1])
			}
			if !slices.Equal(traces[0], traces[1]) {
				t.Errorf("traces differ:\nlibrary %q\nours    %q", traces[0], traces[1])
			}
		})
	}
}

// TestUnaryConcurrentFirstCalls calls both methods from many goroutines at
// once on a fresh chain (their handlers are built while other calls run)
// and wants every answer right.
func TestUnaryConcurrentFirstCalls(t *testing.T) {
	tr := &trace{}
	c := serve(t, ours, []grpc.UnaryServerInterceptor{record("1")(tr), withValue("v")(tr)})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for range 10 {
				svc, want := "a", healthpb.HealthCheckResponse_SERVING
				if g%2 == 1 {
					svc, want = "b", healthpb.HealthCheckResponse_NOT_SERVING
				}
				resp, err := c.Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
				if err != nil || resp.GetStatus() != want {
					errs <- fmt.Errorf("Check(%s) = %v, %v; want %v", svc, resp.GetStatus(), err, want)
					return
				}
				list, err := c.List(t.Context(), &healthpb.HealthListRequest{})
				if err != nil || len(list.GetStatuses()) != 3 {
					errs <- fmt.Errorf("List = %v, %v; want 3 statuses", list, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(tr.take()); n != 16*10*2*2 {
		t.Errorf("%d events recorded, want %d", n, 16*10*2*2)
	}
}
