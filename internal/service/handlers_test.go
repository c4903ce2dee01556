package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/descriptorpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

var update = flag.Bool("update", false, "rewrite the golden want files under testdata/ from what the handlers answer")

// The golden cases of the handlers that call TOP live in
// testdata/<RPC>/<case>/:
//
//	request.json       the RPC's request (protojson)
//	top.json           the body the fake TOP answers (absent: TOP must not be called)
//	top_status.txt     its HTTP status, when not 200
//	want_params.txt    what TOP receives: method, session, then the business parameters, sorted
//	want.json          the RPC's response (protojson), for a call that succeeds
//	want_status.json   the gRPC status (google.rpc.Status, details included), for one that fails
//
// The TOP client is the real one (internal/topclient), over a fake
// transport: TOP's answers are written as TOP sends them, and failures
// reach the handlers as the client's own errors.

// The fake TOP's credentials, and the fixed clock of the blacklist sync.
const (
	testAppKey  = "12345678"
	testSession = "session-1"
)

var testNow = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// generatedID matches the request ids SyncUserBlacklist makes; the goldens
// show generatedPlaceholder instead.
var generatedID = regexp.MustCompile(`^scd-[0-9a-f]{32}$`)

const generatedPlaceholder = "scd-<generated>"

// registered are the gRPC services whose handlers call TOP, as the server
// registers them.
func registered(d Deps) []struct {
	desc *grpc.ServiceDesc
	impl any
} {
	lg := NewLogistics(d)
	lg.now = func() time.Time { return testNow }
	return []struct {
		desc *grpc.ServiceDesc
		impl any
	}{
		{&scv1.WorkcardService_ServiceDesc, NewWorkcards(d)},
		{&scv1.WorkerService_ServiceDesc, NewWorkers(d)},
		{&scv1.LogisticsService_ServiceDesc, lg},
	}
}

// rpcsCallingTOP lists the RPCs whose proto declares a topmethod.
func rpcsCallingTOP(t *testing.T) []protoreflect.MethodDescriptor {
	t.Helper()
	var out []protoreflect.MethodDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("servicecenter.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			ms := fd.Services().Get(i).Methods()
			for j := range ms.Len() {
				opts, _ := ms.Get(j).Options().(*descriptorpb.MethodOptions)
				if name, _ := proto.GetExtension(opts, scv1.E_Topmethod).(string); name != "" {
					out = append(out, ms.Get(j))
				}
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("no RPC declares a topmethod: the protos are not linked")
	}
	return out
}

// unaryHandler finds the handler of m among the registered services.
func unaryHandler(d Deps, m protoreflect.MethodDescriptor) (grpc.MethodHandler, any, bool) {
	for _, s := range registered(d) {
		if s.desc.ServiceName != string(m.Parent().FullName()) {
			continue
		}
		for _, h := range s.desc.Methods {
			if h.MethodName == string(m.Name()) {
				return h.Handler, s.impl, true
			}
		}
	}
	return nil, nil, false
}

// TestHandlersGolden walks every RPC that declares a topmethod: each has
// golden cases, at least one that succeeds and one that fails, and each
// case's TOP parameters, response or status match the golden files.
func TestHandlersGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range rpcsCallingTOP(t) {
		name := string(m.Name())
		if seen[name] {
			t.Fatalf("two RPCs named %s: testdata/<RPC> is ambiguous", name)
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			entries, err := os.ReadDir(filepath.Join("testdata", name))
			if err != nil {
				t.Fatalf("no golden cases for %s (testdata/%s/<case>/: request.json, top.json, want...): %v", m.FullName(), name, err)
			}
			var ok, failed int
			for _, e := range entries {
				if !e.IsDir() {
					continue
				}
				dir := filepath.Join("testdata", name, e.Name())
				t.Run(e.Name(), func(t *testing.T) {
					if runGolden(t, m, dir) {
						ok++
					} else {
						failed++
					}
				})
			}
			if ok == 0 || failed == 0 {
				t.Errorf("testdata/%s: %d cases that succeed and %d that fail; want at least one of each", name, ok, failed)
			}
		})
	}
}

// recordingInvoker records the method descriptors a handler invokes.
type recordingInvoker struct {
	inner top.Invoker
	got   []top.Method
}

func (r *recordingInvoker) Invoke(ctx context.Context, m top.Method, req top.Request, resp top.Response) error {
	r.got = append(r.got, m)
	return r.inner.Invoke(ctx, m, req, resp)
}

// checkInvoked: a handler invokes at most one TOP method, the one its
// RPC declares (topmethod), with top's own descriptor (session,
// idempotency), and the session goes to TOP exactly when the table says.
func checkInvoked(t *testing.T, m protoreflect.MethodDescriptor, got []top.Method, form url.Values) {
	t.Helper()
	if len(got) == 0 {
		return
	}
	opts, _ := m.Options().(*descriptorpb.MethodOptions)
	declared, _ := proto.GetExtension(opts, scv1.E_Topmethod).(string)
	want, known := top.Lookup(declared)
	switch {
	case len(got) != 1:
		t.Errorf("invoked %d TOP calls, want one", len(got))
	case !known:
		t.Errorf("topmethod %q is not in top.Methods()", declared)
	case got[0].Name != want.Name || got[0].Session != want.Session || got[0].Idempotency != want.Idempotency:
		t.Errorf("invoked %+v, want top's %+v (the RPC's topmethod)", got[0], want)
	case form != nil && form.Has(top.ParamSession) != want.Session:
		t.Errorf("session sent %v, the method table says %v", form.Has(top.ParamSession), want.Session)
	}
}

// scriptedTOP is a fake TOP at the HTTP transport: it records the form of
// the one call it expects and answers with a scripted body.
type scriptedTOP struct {
	t      *testing.T
	body   []byte // nil: no call expected
	status int
	got    url.Values
	calls  int
}

func (s *scriptedTOP) RoundTrip(r *http.Request) (*http.Response, error) {
	s.calls++
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if s.got, err = url.ParseQuery(string(raw)); err != nil {
		return nil, err
	}
	if s.body == nil {
		s.t.Errorf("TOP was called (%s), but the case has no top.json", s.got.Get(top.ParamMethod))
		return nil, errors.New("no answer scripted")
	}
	return &http.Response{
		StatusCode: s.status, Status: strconv.Itoa(s.status) + " " + http.StatusText(s.status),
		Header: http.Header{"Content-Type": {"application/json;charset=UTF-8"}},
		Body:   io.NopCloser(bytes.NewReader(s.body)), ContentLength: int64(len(s.body)), Request: r,
	}, nil
}

// params writes what TOP received: method, session (when sent), then the
// business parameters sorted by name, one "name=value" a line.
func (s *scriptedTOP) params() string {
	if s.got == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(top.ParamMethod + "=" + s.got.Get(top.ParamMethod) + "\n")
	if v, ok := s.got[top.ParamSession]; ok {
		b.WriteString(top.ParamSession + "=" + v[0] + "\n")
	}
	var names []string
	for k := range s.got {
		if !top.IsSystemParam(k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range s.got[k] {
			b.WriteString(k + "=" + v + "\n")
		}
	}
	return b.String()
}

// runGolden runs one case and reports whether the call succeeded.
func runGolden(t *testing.T, m protoreflect.MethodDescriptor, dir string) bool {
	reqJSON := readFile(t, filepath.Join(dir, "request.json"), true)
	fake := &scriptedTOP{t: t, status: http.StatusOK, body: readFile(t, filepath.Join(dir, "top.json"), false)}
	if s := readFile(t, filepath.Join(dir, "top_status.txt"), false); s != nil {
		n, err := strconv.Atoi(strings.TrimSpace(string(s)))
		if err != nil {
			t.Fatalf("top_status.txt: %v", err)
		}
		fake.status = n
	}
	client, err := topclient.New(topclient.Config{
		URL: "http://top.invalid/router/rest", AppKey: testAppKey, AppSecret: "secret-1", Session: testSession,
		MaxAttempts: 1, Transport: fake,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rec := &recordingInvoker{inner: client}
	d := Deps{TOP: rec, Logger: slog.New(slog.DiscardHandler)}
	handler, impl, ok := unaryHandler(d, m)
	if !ok {
		t.Fatalf("%s: no registered handler (add its service to registered)", m.FullName())
	}
	dec := func(v any) error {
		if err := protojson.Unmarshal(reqJSON, v.(proto.Message)); err != nil {
			t.Fatalf("request.json: %v", err)
		}
		return nil
	}
	call := &rpc.Call{}
	resp, callErr := handler(impl, rpc.WithCall(context.Background(), call), dec, nil)

	if callErr == nil && len(rec.got) == 0 {
		t.Errorf("succeeded without calling TOP, though the RPC declares a topmethod")
	}
	checkInvoked(t, m, rec.got, fake.got)
	params := fake.params()
	if resp, ok := resp.(*scv1.SyncUserBlacklistResponse); ok && callErr == nil && generatedID.MatchString(resp.GetRequestId()) {
		// A request id servicecenterd made is random: it must be the one
		// sent to TOP; the goldens show a placeholder.
		if !strings.Contains(params, `"request_id":"`+resp.GetRequestId()+`"`) {
			t.Errorf("answered request_id %s, not the one sent to TOP:\n%s", resp.GetRequestId(), params)
		}
		params = strings.ReplaceAll(params, resp.GetRequestId(), generatedPlaceholder)
		resp.RequestId = generatedPlaceholder
	}
	checkGolden(t, filepath.Join(dir, "want_params.txt"), []byte(params))
	if fake.body != nil && fake.calls != 1 {
		t.Errorf("TOP was called %d times, want once", fake.calls)
	}
	var got proto.Message
	var wantFile, otherFile string
	var noted string // the TOP request id the answer shows
	if callErr == nil {
		got, wantFile, otherFile = resp.(proto.Message), "want.json", "want_status.json"
		noted = got.ProtoReflect().Get(got.ProtoReflect().Descriptor().Fields().ByName("top_request_id")).String()
	} else {
		st := status.Convert(callErr)
		got, wantFile, otherFile = st.Proto(), "want_status.json", "want.json"
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				noted = info.GetMetadata()["top_request_id"]
			}
		}
	}
	if readFile(t, filepath.Join(dir, otherFile), false) != nil && !*update {
		t.Errorf("the call answered %v, but the case has %s", callErr, otherFile)
	}
	if call.TOPRequestID != noted {
		t.Errorf("noted TOP request id %q, the answer shows %q", call.TOPRequestID, noted)
	}
	text, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, text, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if *update {
		_ = os.Remove(filepath.Join(dir, otherFile))
		writeGolden(t, filepath.Join(dir, wantFile), pretty.Bytes())
		return callErr == nil
	}
	want := got.ProtoReflect().New().Interface()
	raw := readFile(t, filepath.Join(dir, wantFile), true)
	if err := protojson.Unmarshal(raw, want); err != nil {
		t.Fatalf("%s: %v", wantFile, err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", wantFile, diff)
	}
	return callErr == nil
}

// checkGolden compares got with a golden text file, or rewrites it with
// -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		writeGolden(t, path, got)
		return
	}
	if diff := cmp.Diff(string(readFile(t, path, len(got) > 0)), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", filepath.Base(path), diff)
	}
}

func writeGolden(t *testing.T, path string, b []byte) {
	t.Helper()
	if len(b) == 0 {
		_ = os.Remove(path)
		return
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFile reads path; a missing file is nil, or fails the test when
// required (and not being written by -update).
func readFile(t *testing.T, path string, required bool) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if required && !(*update && strings.HasPrefix(filepath.Base(path), "want")) {
			t.Fatalf("%s is missing", path)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}
