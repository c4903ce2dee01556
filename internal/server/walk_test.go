package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// TestEveryTOPRPCAnswers walks every RPC that declares a topmethod and
// calls it, through the generated gRPC transport and through its REST
// route, with the request in testdata/calls/<RPC>.json (valid against the
// embedded emulator's demo data): both must succeed end to end (route,
// registration, validation, handler, TOP client, emulator), carry TOP's
// request id, and, for an audited RPC, leave an audit event with targets.
// A new RPC fails here until it has its request file and every layer
// answers it.
func TestEveryTOPRPCAnswers(t *testing.T) {
	t.Parallel()
	trail := audit.NewMemory()
	ts := testserver.Start(t, nil, server.WithAuditStore(trail))
	plan, err := audit.NewPlan(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	walked := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("servicecenter.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			methods := fd.Services().Get(i).Methods()
			for j := range methods.Len() {
				m := methods.Get(j)
				opts, _ := m.Options().(*descriptorpb.MethodOptions)
				if name, _ := proto.GetExtension(opts, scv1.E_Topmethod).(string); name == "" {
					continue
				}
				walked++
				t.Run(string(m.Name()), func(t *testing.T) { callBothWays(t, ts, m, plan.Audited(audit.FullMethod(m)), trail) })
			}
		}
		return true
	})
	if walked == 0 {
		t.Fatal("no RPC declares a topmethod")
	}
}

func callBothWays(t *testing.T, ts *testserver.Server, m protoreflect.MethodDescriptor, audited bool, trail *audit.Memory) {
	path := filepath.Join("testdata", "calls", string(m.Name())+".json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no request to call %s with: %v", m.FullName(), err)
	}
	reqType, err := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
	if err != nil {
		t.Fatal(err)
	}
	respType, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
	if err != nil {
		t.Fatal(err)
	}
	req := reqType.New().Interface()
	if err := protojson.Unmarshal(raw, req); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	full := audit.FullMethod(m)
	events := len(trail.Events())

	// gRPC
	resp := respType.New().Interface()
	var header metadata.MD
	if err := ts.Conn.Invoke(grpcCtx(t), full, req, resp, grpc.Header(&header)); err != nil {
		t.Fatalf("grpc: %v", err)
	}
	id := resp.ProtoReflect().Get(m.Output().Fields().ByName("top_request_id")).String()
	if id == "" || !slices.Equal(header.Get(rpc.TOPRequestIDHeader), []string{id}) {
		t.Errorf("grpc: top_request_id %q, header %v", id, header.Get(rpc.TOPRequestIDHeader))
	}

	// REST
	rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
	if rule.GetPost() == "" || rule.GetBody() != "*" {
		t.Fatalf("route %v: the walker calls POST routes with body \"*\"", rule)
	}
	code, hdr, body := ts.REST(t, fillPath(t, rule.GetPost(), req), restBody(t, req))
	if code != http.StatusOK || body["top_request_id"] == "" || hdr.Get("X-Top-Request-Id") != body["top_request_id"] {
		t.Errorf("rest: %d %v, x-top-request-id %q", code, body, hdr.Get("X-Top-Request-Id"))
	}

	got := trail.Events()[events:]
	var mine []audit.Event
	for _, e := range got {
		if e.RPC == full {
			mine = append(mine, e)
		}
	}
	switch {
	case !audited && len(mine) != 0:
		t.Errorf("not audited, but %d events", len(mine))
	case audited && len(mine) != 2:
		t.Errorf("audited: %d events of the two calls, want 2", len(mine))
	case audited && (len(mine[0].Targets) == 0 || len(mine[1].Targets) == 0 || mine[0].TOPRequestID == ""):
		t.Errorf("audit events without targets or TOP request id: %+v", mine)
	}
}

// fillPath sets each {field} of a route pattern from the request.
func fillPath(t *testing.T, pattern string, req proto.Message) string {
	t.Helper()
	return regexp.MustCompile(`\{([a-z_.]+)\}`).ReplaceAllStringFunc(pattern, func(v string) string {
		msg := req.ProtoReflect()
		names := strings.Split(strings.Trim(v, "{}"), ".")
		for i, name := range names {
			fd := msg.Descriptor().Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				t.Fatalf("route variable %s: no field %s", v, name)
			}
			if i == len(names)-1 {
				return msg.Get(fd).String()
			}
			msg = msg.Get(fd).Message()
		}
		return ""
	})
}
