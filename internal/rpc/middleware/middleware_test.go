package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/testutil/grpctest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// healthStub answers Check according to the service name it is asked about.
type healthStub struct {
	healthpb.UnimplementedHealthServer
	seen chan *rpc.Call
}

func (h *healthStub) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	c := rpc.CallFrom(ctx)
	c.TOPRequestID = "top-1"
	h.seen <- c
	switch req.GetService() {
	case "panic":
		panic("boom 13812345678")
	case "fail":
		return nil, status.Error(codes.NotFound, "worker 13812345678 not found")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func startServer(t *testing.T, logs *logbuf.Buffer) (healthpb.HealthClient, *healthStub) {
	t.Helper()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(UnaryRequestID(), UnaryLogging(logger), UnaryRecovery(logger)))
	stub := &healthStub{seen: make(chan *rpc.Call, 1)}
	healthpb.RegisterHealthServer(srv, stub)
	return healthpb.NewHealthClient(grpctest.Serve(t, srv)), stub
}

func TestChain(t *testing.T) {
	tests := []struct {
		name      string
		service   string
		inID      string
		wantCode  codes.Code
		wantLevel string
		wantMsg   string
	}{
		{"ok with caller id", "", "caller-id-1", codes.OK, "INFO", ""},
		{"ok with generated id", "", "", codes.OK, "INFO", ""},
		{"bad caller id replaced", "", "has space", codes.OK, "INFO", ""},
		{"caller error", "fail", "", codes.NotFound, "WARN", "worker 138****5678 not found"},
		{"panic", "panic", "", codes.Internal, "ERROR", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logbuf.Buffer{}
			client, stub := startServer(t, logs)
			ctx := context.Background()
			if tt.inID != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, rpc.RequestIDHeader, tt.inID)
			}
			var header metadata.MD
			_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: tt.service}, grpc.Header(&header))
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code = %v, want %v (%v)", got, tt.wantCode, err)
			}
			c := <-stub.seen
			ids := header.Get(rpc.RequestIDHeader)
			if len(ids) != 1 || ids[0] != c.RequestID {
				t.Fatalf("header ids %v, call id %q", ids, c.RequestID)
			}
			switch {
			case tt.inID == "caller-id-1" && c.RequestID != tt.inID:
				t.Fatalf("caller id not kept: %q", c.RequestID)
			case tt.inID != "caller-id-1" && len(c.RequestID) != 32:
				t.Fatalf("generated id %q", c.RequestID)
			}
			out := logs.String()
			for _, want := range []string{`"level":"` + tt.wantLevel + `"`, `"method":"/grpc.health.v1.Health/Check"`,
				`"request_id":"` + c.RequestID + `"`, `"top_request_id":"top-1"`, `"code":"` + tt.wantCode.String() + `"`, tt.wantMsg} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %s:\n%s", want, out)
				}
			}
			if strings.Contains(out, "13812345678") {
				t.Errorf("log leaks a phone number:\n%s", out)
			}
			if tt.service == "panic" && !strings.Contains(out, "panic in handler") {
				t.Errorf("panic not logged:\n%s", out)
			}
		})
	}
}

func TestLevel(t *testing.T) {
	tests := map[codes.Code]slog.Level{
		codes.OK: slog.LevelInfo, codes.InvalidArgument: slog.LevelWarn, codes.ResourceExhausted: slog.LevelWarn,
		codes.Unavailable: slog.LevelError, codes.Internal: slog.LevelError, codes.Unknown: slog.LevelError,
	}
	for code, want := range tests {
		if got := Level(code); got != want {
			t.Errorf("Level(%v) = %v, want %v", code, got, want)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	tests := map[string]bool{"abc-123": true, "": false, "a b": false, strings.Repeat("a", 129): false, "ü": false}
	for in, want := range tests {
		if got := validRequestID(in); got != want {
			t.Errorf("validRequestID(%q) = %v", in, got)
		}
	}
}

func TestBoundedText(t *testing.T) {
	long := strings.Repeat("错", 2000) + " 13812345678"
	tests := []struct {
		in, want string
	}{
		{"worker 13812345678 not found", "worker 138****5678 not found"},
		{strings.Repeat("a", MaxLoggedError), strings.Repeat("a", MaxLoggedError)},
		{strings.Repeat("a", MaxLoggedError+1), strings.Repeat("a", MaxLoggedError) + "…(1025 bytes)"},
		{long, strings.Repeat("错", MaxLoggedError/3) + "…(6012 bytes)"},
		{strings.Repeat("a", MaxLoggedError-5) + "13812345678", strings.Repeat("a", MaxLoggedError-5) + "138**…(1030 bytes)"},
	}
	for _, tt := range tests {
		if got := boundedText(tt.in, MaxLoggedError); got != tt.want {
			t.Errorf("boundedText(%.20q...) = %.40q... (%d bytes), want %.40q... (%d bytes)", tt.in, got, len(got), tt.want, len(tt.want))
		}
	}
}

func TestValidationStatusBounded(t *testing.T) {
	verr := &protovalidate.ValidationError{}
	for i := range 250 {
		verr.Violations = append(verr.Violations, &protovalidate.Violation{Proto: validate.Violation_builder{
			Field: validate.FieldPath_builder{Elements: []*validate.FieldPathElement{
				validate.FieldPathElement_builder{FieldNumber: proto.Int32(1), FieldName: proto.String(fmt.Sprintf("f%d", i))}.Build()}}.Build(),
			RuleId: proto.String("r"), Message: proto.String("bad"),
		}.Build()})
	}
	st := status.Convert(rpc.ValidationStatus(verr))
	br, ok := st.Details()[0].(*errdetails.BadRequest)
	if st.Code() != codes.InvalidArgument || !ok || len(br.GetFieldViolations()) != rpc.MaxFieldViolations {
		t.Fatalf("%v %v", st.Code(), st.Details())
	}
	if want := "invalid f0: bad (and 249 more, 150 of them not listed)"; st.Message() != want {
		t.Fatalf("message %q, want %q", st.Message(), want)
	}
}
