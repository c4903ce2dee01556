package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/rpc/codec"
	"github.com/servicecenterd/servicecenterd/internal/rpc/validation"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// rawCodec sends request bytes as they are, so that a test can send what
// no protobuf library would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return codec.Name }

// deepLists is a Value of n lists, one inside the other, around a number.
func deepLists(n int) *structpb.Value {
	v := structpb.NewNumberValue(1)
	for range n {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	return v
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// details splits a status's details into its ErrorInfo and BadRequest
// field paths.
func details(st *status.Status) (*errdetails.ErrorInfo, []string) {
	var info *errdetails.ErrorInfo
	var fields []string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return info, fields
}

// rpcLogLines returns the log's "rpc" lines of method.
func rpcLogLines(t *testing.T, ts *testserver.Server, method string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(ts.Logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "rpc" && rec["method"] == method {
			out = append(out, rec)
		}
	}
	return out
}

// TestDecodeFailures sends requests that do not decode over the real
// listener: each is INVALID_ARGUMENT saying what was wrong, never reaches
// TOP, and passes logging, metrics and (for audited RPCs) the audit
// trail like any refused call. A caller without credentials learns
// nothing: UNAUTHENTICATED.
func TestDecodeFailures(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	mem := audit.NewMemory()
	ts := testserver.Start(t, func(c *server.Config) { c.Auth.ClientsFile = p.clientsFile }, server.WithAuditStore(mem))
	assign := scv1.WorkcardService_AssignWorker_FullMethodName
	sync := scv1.LogisticsService_SyncUserBlacklist_FullMethodName
	good := mustMarshal(t, &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567})
	withOuterID := func(v []byte) []byte {
		b := protowire.AppendTag(append([]byte(nil), good...), 2, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	badMobile := mustMarshal(t, &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT,
		Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}, {Mobile: "13900000002"}}})
	badMobile = []byte(strings.Replace(string(badMobile), "13900000002", "1390000000\xff", 1))

	tests := []struct {
		name   string
		method string
		token  string
		body   []byte
		code   codes.Code
		reason string
		field  string
	}{
		{"invalid UTF-8", assign, tokenOps, withOuterID([]byte("test\xff")), codes.InvalidArgument, codec.ReasonInvalidUTF8, "outer_id"},
		{"invalid UTF-8 in a list", sync, tokenOps, badMobile, codes.InvalidArgument, codec.ReasonInvalidUTF8, "blacklist[1].mobile"},
		{"truncated", assign, tokenOps, append(protowire.AppendTag(append([]byte(nil), good...), 2, protowire.BytesType), 10, 't'), codes.InvalidArgument, codec.ReasonMalformed, "outer_id"},
		{"garbage", assign, tokenOps, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, codes.InvalidArgument, codec.ReasonMalformed, ""},
		{"ext_json 6000 deep", assign, tokenOps, mustMarshal(t, &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567,
			ExtJson: &structpb.Struct{Fields: map[string]*structpb.Value{"a": deepLists(6000)}}}), codes.InvalidArgument, codec.ReasonTooDeep, "ext_json"},
		{"garbage without credentials", assign, "", []byte{0xff, 0xff, 0xff}, codes.Unauthenticated, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, logsBefore, eventsBefore := callCount(t, ts), len(rpcLogLines(t, ts, tt.method)), len(mem.Events())
			var out []byte
			err := ts.Conn.Invoke(withToken(grpcCtx(t), tt.token), tt.method, tt.body, &out, grpc.ForceCodec(rawCodec{}))
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tt.code)
			}
			info, fields := details(st)
			if tt.reason != "" && (info == nil || info.GetReason() != tt.reason || info.GetDomain() != "servicecenterd") {
				t.Fatalf("ErrorInfo %v, want reason %s", info, tt.reason)
			}
			if tt.field != "" && !slices.Equal(fields, []string{tt.field}) {
				t.Fatalf("BadRequest fields %v, want %s", fields, tt.field)
			}
			if tt.field != "" && !strings.Contains(st.Message(), tt.field) {
				t.Errorf("message %q does not name %s", st.Message(), tt.field)
			}
			if callCount(t, ts) != before {
				t.Error("the request reached TOP")
			}
			lines := rpcLogLines(t, ts, tt.method)
			if len(lines) != logsBefore+1 || lines[len(lines)-1]["code"] != tt.code.String() {
				t.Errorf("rpc log lines: %v", lines[logsBefore:])
			}
			events := mem.Events()
			if len(events) != eventsBefore+1 || events[len(events)-1].Outcome != tt.code || events[len(events)-1].RPC != tt.method {
				t.Fatalf("audit events: %+v", events[eventsBefore:])
			}
			if targets := events[len(events)-1].Targets; tt.code == codes.InvalidArgument && len(targets) > 0 && targets[0].Kind != "blacklist_entries" {
				t.Errorf("targets of a request that did not decode: %v", targets)
			}
		})
	}

	t.Run("a stream", func(t *testing.T) {
		eventsBefore := len(mem.Events())
		s, err := ts.Conn.NewStream(withToken(grpcCtx(t), tokenOps), &grpc.StreamDesc{ClientStreams: true},
			scv1.LogisticsService_ImportUserBlacklist_FullMethodName, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		// settings (1) holding supplier_id (1) "1\xff"
		settings := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType),
			protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("1\xff")))
		if err := s.SendMsg(settings); err != nil {
			t.Fatal(err)
		}
		_ = s.CloseSend()
		var out []byte
		err = s.RecvMsg(&out)
		st := status.Convert(err)
		if info, fields := details(st); st.Code() != codes.InvalidArgument || info.GetReason() != codec.ReasonInvalidUTF8 || !slices.Equal(fields, []string{"settings.supplier_id"}) {
			t.Fatalf("%v %v %v", st.Code(), info, fields)
		}
		if events := mem.Events(); len(events) != eventsBefore+1 || events[len(events)-1].Outcome != codes.InvalidArgument {
			t.Fatalf("audit events: %+v", events[eventsBefore:])
		}
	})

	samples, _ := scrape(t, http.DefaultClient, "http://"+ts.HTTPAddr()+"/metrics", nil)
	series := func(code, method, service string) float64 {
		return samples[fmt.Sprintf(`grpc_server_handled_total{grpc_code=%q,grpc_method=%q,grpc_service=%q,grpc_type="unary"}`, code, method, service)]
	}
	if got := series("InvalidArgument", "AssignWorker", "servicecenter.v1.WorkcardService"); got != 4 {
		t.Errorf("AssignWorker InvalidArgument counted %v times, want 4", got)
	}
	if got := series("InvalidArgument", "SyncUserBlacklist", "servicecenter.v1.LogisticsService"); got != 1 {
		t.Errorf("SyncUserBlacklist InvalidArgument counted %v times, want 1", got)
	}
	if n := ts.CodecPending(); n != 0 {
		t.Errorf("%d decode failures left in the codec's table", n)
	}
}

// TestDeepExtJSON: ext_json nests at most validation.MaxJSONDepth levels;
// deeper is INVALID_ARGUMENT / 400 over gRPC and REST, never INTERNAL /
// 500, and never reaches TOP.
func TestDeepExtJSON(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	// ext_json {"a": <n lists>} nests 1+n levels.
	tests := []struct {
		lists  int
		field  string // "" when valid
		reason string // the BadRequest reason
	}{
		{validation.MaxJSONDepth - 1, "", ""},
		{validation.MaxJSONDepth, "ext_json", "struct.max_depth"},
		{60, "ext_json", codec.ReasonTooDeep},
		{6000, "ext_json", codec.ReasonTooDeep},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.lists), func(t *testing.T) {
			req := &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567,
				ExtJson: &structpb.Struct{Fields: map[string]*structpb.Value{"a": deepLists(tt.lists)}}}
			before := callCount(t, ts)
			_, err := ts.Workcards.AssignWorker(grpcCtx(t), req)
			st := status.Convert(err)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				fields, reasons := violationsOf(st)
				if st.Code() != codes.InvalidArgument || !slices.Equal(fields, []string{tt.field}) || !slices.Equal(reasons, []string{tt.reason}) {
					t.Fatalf("grpc: %v %v %v", st.Code(), fields, reasons)
				}
				if callCount(t, ts) != before {
					t.Fatal("grpc: reached TOP")
				}
			}

			before = callCount(t, ts)
			body := `{"target_worker_id":1234567,"ext_json":{"a":` + strings.Repeat("[", tt.lists) + "1" + strings.Repeat("]", tt.lists) + `}}`
			code, _, out := ts.REST(t, "/v1/workcards/2345678:assignWorker", body)
			switch {
			case tt.field == "":
				if code != http.StatusOK {
					t.Fatalf("rest: %d %v", code, out)
				}
				return
			case code != http.StatusBadRequest || out["code"] != float64(codes.InvalidArgument):
				t.Fatalf("rest: %d %v", code, out)
			case callCount(t, ts) != before:
				t.Fatal("rest: reached TOP")
			}
			if tt.lists >= codec.MaxDepth {
				return // refused by the gateway's JSON decoding, before the gRPC hop
			}
			raw, _ := json.Marshal(out["details"])
			if !strings.Contains(string(raw), `"field":"ext_json"`) || !strings.Contains(string(raw), tt.reason) {
				t.Fatalf("rest: details %s do not name ext_json and %s", raw, tt.reason)
			}
		})
	}
}

// violationsOf returns a status's BadRequest fields and reasons.
func violationsOf(st *status.Status) (fields, reasons []string) {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
				reasons = append(reasons, v.GetReason())
			}
		}
	}
	return fields, reasons
}

// TestBadRequestsNeverReachTOP: what TOP requires (per the seeds), time
// ranges and the character sets of ids, over gRPC and REST: each bad
// request is INVALID_ARGUMENT / 400 with a field violation, and the
// emulator records no call.
func TestBadRequestsNeverReachTOP(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	sync := func(f func(r *scv1.SyncUserBlacklistRequest)) rpcCase {
		r := &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT,
			Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}}}
		f(r)
		return syncBlacklist(r)
	}
	tests := []struct {
		name  string
		rpc   rpcCase
		body  string // REST body when not the request's JSON
		field string
	}{
		{"assign: no worker (an empty REST body)", assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 2345678}), "{}", "target_worker_id"},
		{"assign: a store operator without its store", assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567,
			Type: scv1.OperatorType_OPERATOR_TYPE_STORE}), "", "service_store_id"},
		{"assign: outer_id with a space", assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567, OuterId: "test 1"}), "", "outer_id"},
		{"assign: worker name with NUL", assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567, TargetWorkerName: "张\x00"}), "", "target_worker_name"},
		{"bind: store code with an emoji", bindVirtualPhone(&scv1.BindVirtualPhoneRequest{WorkcardId: 11111222,
			RequestSource: &scv1.WorkcardRequestSource{ServiceStoreCode: "FWS😀"}}), "", "request_source.service_store_code"},
		{"update: no provider", updateWorker(withWorker(func(w *scv1.Worker) { w.ProviderId = 0 })), "", "worker.provider_id"},
		{"update: registered in year 1", updateWorker(withWorker(func(w *scv1.Worker) { w.RegisterTime = &timestamppb.Timestamp{Seconds: -62135596800} })), "", "worker.register_time"},
		{"update: service code with a space", updateWorker(withWorker(func(w *scv1.Worker) { w.ServiceCodes = []string{"tv install"} })), "", "worker.service_codes[0]"},
		{"tags: empty", getWorkerTags(&scv1.GetWorkerTagsRequest{}), "{}", "id_number"},
		{"sync: request_time in year 1", sync(func(r *scv1.SyncUserBlacklistRequest) { r.RequestTime = &timestamppb.Timestamp{Seconds: -62135596800} }), "", "request_time"},
		{"sync: supplier_id with NUL", sync(func(r *scv1.SyncUserBlacklistRequest) { r.SupplierId = "1000\x000001" }), "", "supplier_id"},
		{"sync: supplier_id with an emoji", sync(func(r *scv1.SyncUserBlacklistRequest) { r.SupplierId = "1000😀" }), "", "supplier_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := callCount(t, ts)
			_, err := tt.rpc.call(grpcCtx(t), ts)
			st := status.Convert(err)
			if fields, _ := violationsOf(st); st.Code() != codes.InvalidArgument || !slices.Contains(fields, tt.field) {
				t.Fatalf("grpc: %v %q %v, want a violation of %s", st.Code(), st.Message(), fields, tt.field)
			}
			body := tt.body
			if body == "" {
				body = restBody(t, tt.rpc.req)
			}
			code, _, out := ts.REST(t, tt.rpc.path, body)
			raw, _ := json.Marshal(out["details"])
			if code != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"`+tt.field+`"`) {
				t.Fatalf("rest: %d %v, want 400 naming %s", code, out, tt.field)
			}
			if n := callCount(t, ts); n != before {
				t.Fatalf("%d calls reached TOP", n-before)
			}
		})
	}
}

// longestLine is the length of the longest line of the server's log.
func longestLine(s string) int {
	longest := 0
	for _, l := range strings.Split(s, "\n") {
		longest = max(longest, len(l))
	}
	return longest
}

// TestHugeSyncBoundedRecords: a SyncUserBlacklist of 10,000 or 270,000
// entries, without credentials and with them, leaves a bounded audit row
// and bounded log lines: an entry count, and for an admitted caller the
// first entries only.
func TestHugeSyncBoundedRecords(t *testing.T) {
	// Not t.Parallel: it keeps the CPU busy for seconds (see TestMain).
	p := newPKI(t)
	mem := audit.NewMemory()
	ts := testserver.Start(t, func(c *server.Config) { c.Auth.ClientsFile = p.clientsFile }, server.WithAuditStore(mem))
	const maxLine = 2048
	for _, n := range []int{10_000, 270_000} {
		req := &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}
		for i := range n {
			req.Blacklist = append(req.Blacklist, &scv1.BlacklistEntry{Mobile: fmt.Sprintf("139%08d", i)})
		}
		for _, tt := range []struct {
			token string
			code  codes.Code
			want  string
		}{
			{"", codes.Unauthenticated, fmt.Sprintf("supplier:10000000001 operate_type:OPERATE_TYPE_UPSERT blacklist_entries:%d", n)},
			{tokenOps, codes.InvalidArgument, fmt.Sprintf("supplier:10000000001 operate_type:OPERATE_TYPE_UPSERT blacklist_entries:%d", n) +
				" mobile:139****0000 mobile:139****0001 mobile:139****0002 mobile:139****0003 mobile:139****0004" +
				" mobile:139****0005 mobile:139****0006 mobile:139****0007 mobile:139****0008 mobile:139****0009"},
		} {
			t.Run(fmt.Sprintf("%d entries, credentials %v", n, tt.token != ""), func(t *testing.T) {
				logsBefore := len(ts.Logs.String())
				_, err := ts.Logistics.SyncUserBlacklist(withToken(grpcCtx(t), tt.token), req)
				if status.Code(err) != tt.code {
					t.Fatalf("%v, want %v", err, tt.code)
				}
				events := mem.Events()
				e := events[len(events)-1]
				var targets []string
				for _, tg := range e.Targets {
					targets = append(targets, tg.Kind+":"+tg.ID)
				}
				if got := strings.Join(targets, " "); got != tt.want {
					t.Fatalf("targets %s\nwant    %s", got, tt.want)
				}
				if l := longestLine(ts.Logs.String()[logsBefore:]); l > maxLine {
					t.Fatalf("a log line of %d bytes", l)
				}
			})
		}
	}
}
