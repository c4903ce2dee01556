package metrics

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/testutil/grpctest"
)

// exposition renders every sample of g as "name{labels} count" lines,
// sorted: counters' values, histograms' sample counts and bucket bounds
// (their sums and bucket counts depend on timing).
func exposition(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			line := f.GetName() + " " + f.GetHelp() + " " + f.GetType().String() + " {" + strings.Join(labels, ",") + "} "
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				line += prometheusFloat(m.GetCounter().GetValue())
			case dto.MetricType_HISTOGRAM:
				line += prometheusFloat(float64(m.GetHistogram().GetSampleCount()))
				for _, b := range m.GetHistogram().GetBucket() {
					line += " le=" + prometheusFloat(b.GetUpperBound())
				}
			}
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func prometheusFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// TestGRPCMetricsMatchLibrary runs go-grpc-middleware's server metrics
// and ours side by side in one interceptor chain of a real server on
// loopback, through unary calls (OK, NOT_FOUND) and a server stream ended
// by the client (CANCELED), and wants the same series with the same
// counts, from InitializeMetrics on.
func TestGRPCMetricsMatchLibrary(t *testing.T) {
	lib := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(prometheus.DefBuckets)))
	libReg := prometheus.NewRegistry()
	libReg.MustRegister(lib)
	ours := newGRPCServerMetrics()
	ourReg := prometheus.NewRegistry()
	ourReg.MustRegister(ours.collectors()...)

	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(lib.UnaryServerInterceptor(grpcprom.WithExemplarFromContext(exemplar)), ours.unaryInterceptor(exemplar)),
		grpc.ChainStreamInterceptor(lib.StreamServerInterceptor(grpcprom.WithExemplarFromContext(exemplar)), ours.streamInterceptor(exemplar)),
	)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	lib.InitializeMetrics(srv)
	ours.initialize(srv)
	if got, want := exposition(t, ourReg), exposition(t, libReg); got != want {
		t.Fatalf("after initialization:\nours\n%s\nlibrary\n%s", got, want)
	}

	conn := grpctest.Serve(t, srv)
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		service string
		want    codes.Code
	}{{"", codes.OK}, {"", codes.OK}, {"nope", codes.NotFound}} {
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: tc.service})
		if status.Code(err) != tc.want {
			t.Fatalf("Check(%q): %v, want %v", tc.service, err, tc.want)
		}
	}
	watchCtx, stop := context.WithCancel(ctx)
	stream, err := client.Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Watch after cancel: %v", err)
	}

	// The server finishes the canceled stream on its own time: wait until
	// both sides have counted it.
	var got, want string
	for range 200 {
		got, want = exposition(t, ourReg), exposition(t, libReg)
		if got == want && strings.Contains(got, "grpc_code=Canceled,grpc_method=Watch,grpc_service=grpc.health.v1.Health,grpc_type=server_stream} 1") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got != want {
		t.Fatalf("ours\n%s\nlibrary\n%s", got, want)
	}
	for _, s := range []string{
		"grpc_code=OK,grpc_method=Check,grpc_service=grpc.health.v1.Health,grpc_type=unary} 2",
		"grpc_code=NotFound,grpc_method=Check,grpc_service=grpc.health.v1.Health,grpc_type=unary} 1",
		"grpc_server_msg_sent_total Total number of gRPC stream messages sent by the server. COUNTER {grpc_method=Check,grpc_service=grpc.health.v1.Health,grpc_type=unary} 2",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("no %q in\n%s", s, got)
		}
	}
}

// BenchmarkUnaryInterceptor compares the library's unary interceptor with
// ours on a call that succeeds.
func BenchmarkUnaryInterceptor(b *testing.B) {
	lib := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(prometheus.DefBuckets)))
	ours := newGRPCServerMetrics()
	info := &grpc.UnaryServerInfo{FullMethod: "/servicecenter.v1.WorkerService/GetWorkerTags"}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	for name, in := range map[string]grpc.UnaryServerInterceptor{
		"library": lib.UnaryServerInterceptor(grpcprom.WithExemplarFromContext(exemplar)),
		"ours":    ours.unaryInterceptor(exemplar),
	} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := in(ctx, nil, info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
