package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcServerMetrics are go-grpc-middleware's gRPC server series
// (providers/prometheus ServerMetrics with the handling time histogram:
// the same names, help, labels, buckets, exemplars and moments of
// counting), kept here because the library resolves every series of a
// call by its label values on every call (five hashed lookups, a reporter
// and its label slices), which was about 4% of a GetWorkerTags call's
// CPU. Here each method's series are resolved once, on its first call,
// and kept. TestGRPCMetricsMatchLibrary holds the two to the same
// exposition. Streams use the library's interceptor with this reporter.
type grpcServerMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	seconds                          *prometheus.HistogramVec

	unary   sync.Map // full method name -> *methodSeries
	streams sync.Map // seriesKey -> *methodSeries
}

// seriesKey names a method's series.
type seriesKey struct {
	typ             interceptors.GRPCType
	service, method string
}

func newGRPCServerMetrics() *grpcServerMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	return &grpcServerMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total",
			Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels[:3:3], "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total",
			Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total",
			Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: prometheus.DefBuckets,
		}, labels),
	}
}

// collectors are the vectors to register.
func (g *grpcServerMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.started, g.handled, g.received, g.sent, g.seconds}
}

// methodSeries are one method's series, each created on its first use
// (as the library creates them), then kept.
type methodSeries struct {
	started, received, sent func() prometheus.ExemplarAdder
	seconds                 func() prometheus.ExemplarObserver
	handled                 [codes.Unauthenticated + 1]func() prometheus.ExemplarAdder
	g                       *grpcServerMetrics
	labels                  []string
}

func (g *grpcServerMetrics) newSeries(k seriesKey) *methodSeries {
	labels := []string{string(k.typ), k.service, k.method}
	counter := func(v *prometheus.CounterVec, labels ...string) func() prometheus.ExemplarAdder {
		return sync.OnceValue(func() prometheus.ExemplarAdder {
			return v.WithLabelValues(labels...).(prometheus.ExemplarAdder)
		})
	}
	s := &methodSeries{
		started:  counter(g.started, labels...),
		received: counter(g.received, labels...),
		sent:     counter(g.sent, labels...),
		seconds: sync.OnceValue(func() prometheus.ExemplarObserver {
			return g.seconds.WithLabelValues(labels...).(prometheus.ExemplarObserver)
		}),
		g:      g,
		labels: labels,
	}
	for c := range s.handled {
		s.handled[c] = counter(g.handled, append(labels[:3:3], codes.Code(c).String())...)
	}
	return s
}

// done counts a finished call with its error and duration.
func (s *methodSeries) done(err error, d time.Duration, ex prometheus.Labels) {
	code := statusCode(err)
	if int(code) < len(s.handled) {
		s.handled[code]().AddWithExemplar(1, ex)
	} else {
		s.g.handled.WithLabelValues(append(s.labels[:3:3], code.String())...).(prometheus.ExemplarAdder).AddWithExemplar(1, ex)
	}
	s.seconds().ObserveWithExemplar(d.Seconds(), ex)
}

// statusCode is the library's FromError: the status of err, context
// errors converted as the gRPC server converts them.
func statusCode(err error) codes.Code {
	s, ok := status.FromError(err)
	if !ok {
		s = status.FromContextError(err)
	}
	return s.Code()
}

// splitMethod is the library's split of a full method name.
func splitMethod(fullMethod string) (service, method string) {
	fullMethod = strings.TrimPrefix(fullMethod, "/")
	if i := strings.Index(fullMethod, "/"); i >= 0 {
		return fullMethod[:i], fullMethod[i+1:]
	}
	return "unknown", "unknown"
}

func (g *grpcServerMetrics) unarySeries(fullMethod string) *methodSeries {
	if s, ok := g.unary.Load(fullMethod); ok {
		return s.(*methodSeries)
	}
	service, method := splitMethod(fullMethod)
	s, _ := g.unary.LoadOrStore(fullMethod, g.newSeries(seriesKey{interceptors.Unary, service, method}))
	return s.(*methodSeries)
}

// unaryInterceptor counts as the library's unary interceptor does: started,
// the request received, the response sent (when there is no error),
// handled with the code, and the handling time.
func (g *grpcServerMetrics) unaryInterceptor(exemplarOf func(context.Context) prometheus.Labels) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		s := g.unarySeries(info.FullMethod)
		ex := exemplarOf(ctx)
		s.started().AddWithExemplar(1, ex)
		s.received().AddWithExemplar(1, ex)
		resp, err := handler(ctx, req)
		if err == nil {
			s.sent().AddWithExemplar(1, ex)
		}
		s.done(err, time.Since(start), ex)
		return resp, err
	}
}

// streamInterceptor is the library's stream interceptor with this
// package's reporter.
func (g *grpcServerMetrics) streamInterceptor(exemplarOf func(context.Context) prometheus.Labels) grpc.StreamServerInterceptor {
	return interceptors.StreamServerInterceptor(streamReportable{g: g, exemplarOf: exemplarOf})
}

type streamReportable struct {
	g          *grpcServerMetrics
	exemplarOf func(context.Context) prometheus.Labels
}

// ServerReporter implements interceptors.ServerReportable.
func (r streamReportable) ServerReporter(ctx context.Context, meta interceptors.CallMeta) (interceptors.Reporter, context.Context) {
	k := seriesKey{meta.Typ, meta.Service, meta.Method}
	s, ok := r.g.streams.Load(k)
	if !ok {
		s, _ = r.g.streams.LoadOrStore(k, r.g.newSeries(k))
	}
	rep := &streamReporter{s: s.(*methodSeries), ex: r.exemplarOf(ctx)}
	rep.s.started().AddWithExemplar(1, rep.ex)
	return rep, ctx
}

type streamReporter struct {
	s  *methodSeries
	ex prometheus.Labels
}

// PostCall implements interceptors.Reporter.
func (r *streamReporter) PostCall(err error, d time.Duration) { r.s.done(err, d, r.ex) }

// PostMsgSend implements interceptors.Reporter.
func (r *streamReporter) PostMsgSend(_ any, err error, _ time.Duration) {
	if err == nil {
		r.s.sent().AddWithExemplar(1, r.ex)
	}
}

// PostMsgReceive implements interceptors.Reporter.
func (r *streamReporter) PostMsgReceive(_ any, err error, _ time.Duration) {
	if err == nil {
		r.s.received().AddWithExemplar(1, r.ex)
	}
}

// initialize creates the series of every method registered on srv at
// zero, as the library's InitializeMetrics does.
func (g *grpcServerMetrics) initialize(srv interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) {
	for service, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			typ := interceptors.Unary
			switch {
			case m.IsClientStream && m.IsServerStream:
				typ = interceptors.BidiStream
			case m.IsClientStream:
				typ = interceptors.ClientStream
			case m.IsServerStream:
				typ = interceptors.ServerStream
			}
			labels := []string{string(typ), service, m.Name}
			g.started.WithLabelValues(labels...)
			g.received.WithLabelValues(labels...)
			g.sent.WithLabelValues(labels...)
			g.seconds.WithLabelValues(labels...)
			for _, c := range interceptors.AllCodes {
				g.handled.WithLabelValues(append(labels[:3:3], c.String())...)
			}
		}
	}
}
