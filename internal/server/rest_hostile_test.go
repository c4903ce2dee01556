package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/entryfile"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// route is one REST route of the gateway, from the google.api.http rules.
type route struct {
	method, path string // path with every {variable} set to 1
	rpc          string // full gRPC method
}

// gatewayRoutes lists every REST route of servicecenter.v1, so that a new
// one is covered without editing the tests.
func gatewayRoutes(t *testing.T) []route {
	t.Helper()
	vars := regexp.MustCompile(`\{[^}]*\}`)
	var out []route
	protoregistry.GlobalFiles.RangeFilesByPackage("servicecenter.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				var method, path string
				switch p := rule.GetPattern().(type) {
				case *annotations.HttpRule_Get:
					method, path = http.MethodGet, p.Get
				case *annotations.HttpRule_Post:
					method, path = http.MethodPost, p.Post
				default:
					t.Fatalf("%s: a route the test does not know: %v", m.FullName(), rule)
				}
				out = append(out, route{method, vars.ReplaceAllString(path, "1"), "/" + string(svc.FullName()) + "/" + string(m.Name())})
			}
		}
		return true
	})
	if len(out) < 10 {
		t.Fatalf("only %d routes found", len(out))
	}
	return out
}

// rawAnswer sends a request's headers and no body byte, the body being
// declared by header (Content-Length or Transfer-Encoding), and returns
// the status code, whether the server closes the connection after it
// (Connection: close), and the body of the answer. The server must answer
// without the body: the test fails when it does not within 30 s (the
// server's own read timeout is set far longer).
func rawAnswer(t *testing.T, addr, method, path string, header http.Header) (int, bool, map[string]any) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: test\r\n", method, path)
	_ = header.Write(&req)
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: no answer without the body: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Close, out
}

// TestAuthBeforeBody: on every route of the HTTP listener (each gateway
// route, the file upload in every content type, the plain endpoints when
// none is open), a caller without credentials gets 401, and one without
// the right 403, before it has sent any of its body, declared by
// Content-Length (1 GiB) or chunked; the denied mutating calls are audited.
func TestAuthBeforeBody(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	trail := audit.NewMemory()
	ts := testserver.Start(t, func(c *server.Config) {
		c.Auth.ClientsFile = p.clientsFile
		c.Auth.OpenEndpoints = nil
		c.HTTP.ReadTimeout = 10 * time.Minute // a server waiting for the body never answers in time
	}, server.WithAuditStore(trail))

	type call struct {
		name, method, path, contentType, rpc string
	}
	var calls []call
	for _, r := range gatewayRoutes(t) {
		calls = append(calls, call{r.rpc, r.method, r.path, "application/json", r.rpc})
	}
	for _, ct := range []string{"text/csv", "application/x-ndjson", "application/json", "text/plain", ""} {
		calls = append(calls, call{"upload " + ct, http.MethodPost, "/v1/blacklist/jobs:import?supplier_id=1", ct, server.ImportMethod})
	}
	for name, path := range map[string]string{"metrics": "/metrics", "healthz": "/healthz", "readyz": "/readyz", "topz": "/topz", "openapi": "/openapi.json"} {
		calls = append(calls, call{path, http.MethodGet, path, "application/json", "http/" + name})
	}
	framings := map[string]http.Header{
		"content-length": {"Content-Length": {"1073741824"}},
		"chunked":        {"Transfer-Encoding": {"chunked"}},
	}
	callers := []struct {
		token string
		code  int
		grpc  codes.Code
	}{
		{"", http.StatusUnauthorized, codes.Unauthenticated},
		{"scd_wrong", http.StatusUnauthorized, codes.Unauthenticated},
		{tokenTagsOnly, http.StatusForbidden, codes.PermissionDenied},
	}
	for _, c := range calls {
		for framing, header := range framings {
			for _, caller := range callers {
				if caller.token == tokenTagsOnly && c.rpc == scv1.WorkerService_GetWorkerTags_FullMethodName {
					continue // allowed: it would wait for its body
				}
				t.Run(fmt.Sprintf("%s %s %q", c.name, framing, caller.token), func(t *testing.T) {
					h := header.Clone()
					if c.contentType != "" {
						h.Set("Content-Type", c.contentType)
					}
					if caller.token != "" {
						h.Set("Authorization", "Bearer "+caller.token)
					}
					code, closes, body := rawAnswer(t, ts.HTTPAddr(), c.method, c.path, h)
					if code != caller.code || !closes {
						t.Fatalf("%d %v (closes: %v), want %d", code, body, closes, caller.code)
					}
					if st, _ := body["error"].(map[string]any); st != nil {
						body = st // a server stream's error
					}
					if body["code"] != float64(caller.grpc) {
						t.Fatalf("%v, want code %v", body, caller.grpc)
					}
				})
			}
		}
	}

	// Every denied call of an audited method is in the trail.
	denied := map[string]int{}
	for _, e := range trail.Events() {
		if e.Outcome != codes.Unauthenticated && e.Outcome != codes.PermissionDenied {
			t.Errorf("event %+v", e)
		}
		denied[e.RPC]++
	}
	plan, err := audit.NewPlan(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range plan.Methods() {
		if denied[m] == 0 {
			t.Errorf("no denial of %s audited", m)
		}
	}
}

// TestUnauthenticatedUploadReadsNothing: a caller without credentials
// streaming a 100 MB single-line CSV is answered 401 while the server has
// read nothing of it; the connection then closes, so the client cannot
// push more than the sockets hold.
func TestUnauthenticatedUploadReadsNothing(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	ts := testserver.Start(t, func(c *server.Config) { c.Auth.ClientsFile = p.clientsFile })
	body := &countingLine{size: 100 << 20}
	req, err := http.NewRequest(http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/blacklist/jobs:import?supplier_id=1", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = body.size
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Expect", "100-continue")                  // as curl sends for large bodies
	tr := &http.Transport{ExpectContinueTimeout: time.Minute} // never send the body unasked
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || body.sent != 0 {
		t.Fatalf("%d after %d bytes of the body were sent", resp.StatusCode, body.sent)
	}
}

// countingLine is a CSV header and one endless line of digits, size bytes
// in all; sent counts what was read of it.
type countingLine struct {
	size, sent int64
}

func (c *countingLine) Read(p []byte) (int, error) {
	if c.sent >= c.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), c.size-c.sent)]
	for i := range p {
		p[i] = '1'
		if c.sent+int64(i) < 7 {
			p[i] = "mobile\n"[c.sent+int64(i)]
		}
	}
	c.sent += int64(len(p))
	return len(p), nil
}

// emulatorCalls counts the calls that reached the embedded TOP emulator
// (callCount).
func emulatorCalls(t *testing.T, ts *testserver.Server) int64 {
	t.Helper()
	return int64(callCount(t, ts))
}

// violation returns the first BadRequest field violation of a REST error
// body: field, description, reason.
func violation(body map[string]any) (field, desc, reason string) {
	details, _ := body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		vs, _ := m["field_violations"].([]any)
		if len(vs) > 0 {
			v := vs[0].(map[string]any)
			return fmt.Sprint(v["field"]), fmt.Sprint(v["description"]), fmt.Sprint(v["reason"])
		}
	}
	return "", "", ""
}

// TestStrictJSON: a REST body is exactly one JSON value with known
// fields. Data after it, concatenated objects and unknown fields (named
// with their path; google.protobuf.Struct takes any key) are 400 with a
// BadRequest, and nothing reaches TOP.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	assign := "/v1/workcards/2345678:assignWorker"
	if code, _, body := ts.REST(t, assign, `{"target_worker_id":1234567,"ext_json":{"anything":{"goes":[1]}}}`+"\n"); code != http.StatusOK {
		t.Fatalf("a good body: %d %v", code, body)
	}
	before := emulatorCalls(t, ts)
	if before == 0 {
		t.Fatal("the good call did not reach the emulator")
	}
	importJSON := `{"settings":{"supplier_id":"10000000001","operate_type":"OPERATE_TYPE_UPSERT"}}` + "\n" + `{"entries":[{"mobile":"13700000001"}]}`
	tests := []struct {
		name, path, body    string
		field, desc, reason string
	}{
		{"a second closing brace", assign, `{"target_worker_id":1234567}}`, "body", "unexpected data after the JSON value, at byte 28", "json.trailing_data"},
		{"garbage after the object", assign, `{"target_worker_id":1234567} garbage`, "body", "at byte 29", "json.trailing_data"},
		{"two objects", assign, `{"target_worker_id":1234567}{"target_worker_id":1234568}`, "body", "at byte 28", "json.trailing_data"},
		{"two objects on two lines", assign, "{\"target_worker_id\":1234567}\n{\"target_worker_id\":1234568}\n", "body", "at byte 29", "json.trailing_data"},
		{"unknown field", assign, `{"target_worker_id":1234567,"foo":1}`, "foo", `unknown field "foo": not a field of servicecenter.v1.AssignWorkerRequest`, "json.unknown_field"},
		{"unknown nested field", "/v1/workers:update", `{"worker":{"name":"x","phonee":"1"}}`, "worker.phonee", `unknown field "phonee": not a field of servicecenter.v1.Worker`, "json.unknown_field"},
		{"unknown field in a list", "/v1/blacklist:sync", `{"supplier_id":"1","blacklist":[{"mobile":"13800000001"},{"mobil":"1"}]}`, "blacklist[1].mobil", `unknown field "mobil"`, "json.unknown_field"},
		{"an unknown field 5000 long", assign, `{"` + strings.Repeat("f", 5000) + `":1}`, `ffffffffffffffff… (5000 characters)`, `"ffffffffffffffff"… (5000 characters)`, "json.unknown_field"},
		{"truncated", assign, `{"target_worker_id":`, "body", "unexpected EOF", "json.invalid"},
		{"a wrong type", assign, `{"target_worker_id":"x"}`, "body", `invalid value for int64 field targetWorkerId: "x"`, "json.invalid"},
		{"a stream with garbage", "/v1/blacklist/jobs:import", importJSON + " garbage", "body", "message 3: invalid character 'g'", "json.syntax"},
		{"a stream with an unknown field", "/v1/blacklist/jobs:import", importJSON + "\n" + `{"entries":[{"mobile":"13700000002","x":1}]}`, "entries[0].x", "message 3: unknown field", "json.unknown_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := ts.REST(t, tt.path, tt.body)
			field, desc, reason := violation(body)
			if code != http.StatusBadRequest || body["code"] != float64(codes.InvalidArgument) || field != tt.field || !strings.Contains(desc, tt.desc) || reason != tt.reason {
				t.Fatalf("%d %v\nwant field %q, description with %q, reason %q", code, body, tt.field, tt.desc, tt.reason)
			}
			if strings.Contains(fmt.Sprint(body), "proto:") || len(fmt.Sprint(body)) > 1024 {
				t.Fatalf("raw or long message: %v", body)
			}
		})
	}
	if after := emulatorCalls(t, ts); after != before {
		t.Fatalf("%d calls reached TOP", after-before)
	}
	if _, list := get(t, ts, "/v1/blacklist/jobs"); len(list["jobs"].([]any)) != 0 {
		t.Fatalf("jobs left: %v", list)
	}
}

// TestLongValuesQuotedShort: a path or query value that does not parse is
// a BadRequest naming the parameter and quoting a short prefix of the
// value, never all of it.
func TestLongValuesQuotedShort(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	long := strings.Repeat("9", 5000)
	tests := []struct {
		name, method, path string
		field, desc        string
	}{
		{"path id", http.MethodPost, "/v1/workcards/" + long + ":assignWorker", "workcard_id",
			`must be an integer (value out of range), got "9999999999999999"… (5000 characters)`},
		{"path id not a number", http.MethodPost, "/v1/workcards/x1:assignWorker", "workcard_id", `must be an integer (invalid syntax), got "x1"`},
		{"query", http.MethodGet, "/v1/blacklist/jobs?page_size=" + long, "page_size",
			`must be an integer (value out of range), got "9999999999999999"… (5000 characters)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, raw := doREST(t, http.DefaultClient, tt.method, "http://"+ts.HTTPAddr()+tt.path, "{}", nil)
			var body map[string]any
			_ = json.Unmarshal([]byte(raw), &body)
			field, desc, _ := violation(body)
			if code != http.StatusBadRequest || field != tt.field || desc != tt.desc || len(raw) > 512 {
				t.Fatalf("%d %s\nwant field %q, description %q", code, raw, tt.field, tt.desc)
			}
		})
	}
}

// TestUploadRefusals: an upload refused for its content type, settings,
// a record or the whole over its limit, or invalid UTF-8 answers 400 or
// 413 naming the header, the line or the limit; the refusal is the
// stream's status, so the audit trail records it (not CANCELLED), and no
// job is left. A caller without credentials is refused first.
func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	trail := audit.NewMemory()
	const maxUpload = 200 << 10
	ts := testserver.Start(t, func(c *server.Config) {
		c.Auth.ClientsFile = p.clientsFile
		c.HTTP.MaxUploadSize = maxUpload
	}, server.WithAuditStore(trail))
	longField := strings.Repeat("1", entryfile.MaxRecord)
	var big strings.Builder
	big.WriteString("mobile\n")
	for big.Len() <= maxUpload {
		big.WriteString("13700000001\n")
	}
	tests := []struct {
		name, token, query, contentType string
		body                            io.Reader
		code                            int
		field, desc                     string // a BadRequest's, or for 413 the ErrorInfo's limit and the message
		outcome                         codes.Code
	}{
		{"no content type", tokenOps, "supplier_id=1", "", strings.NewReader("mobile\n13700000001\n"), http.StatusBadRequest,
			"Content-Type", "must be text/csv (a CSV file), application/x-ndjson (an NDJSON file; also application/ndjson, application/jsonl, application/x-jsonlines) or application/json (ImportUserBlacklistRequest messages); got none", codes.InvalidArgument},
		{"a form (curl's default)", tokenOps, "supplier_id=1", "application/x-www-form-urlencoded", strings.NewReader("\ufeffmobile\n13700000001\n"), http.StatusBadRequest,
			"Content-Type", `got "application/x-www-form-urlencoded"`, codes.InvalidArgument},
		{"bad settings", tokenOps, "supplier_id=1&operate_type=merge", "text/csv", strings.NewReader("mobile\n13700000001\n"), http.StatusBadRequest,
			"operate_type", "must be upsert or delete", codes.InvalidArgument},
		{"bad settings, no credentials", "", "supplier_id=1&operate_type=merge", "text/plain", strings.NewReader("x"), http.StatusUnauthorized,
			"", "credentials required", codes.Unauthenticated},
		{"invalid UTF-8", tokenOps, "supplier_id=1", "text/csv", strings.NewReader("mobile,reason\n13700000001,1\n1370000\xff002,1\n"), http.StatusBadRequest,
			"body", "line 3: field 1 is not valid UTF-8 (the file must be UTF-8)", codes.InvalidArgument},
		{"CSV record too long", tokenOps, "supplier_id=1", "text/csv", strings.NewReader("mobile\n13700000001\n" + longField + "\n"), http.StatusRequestEntityTooLarge,
			"record", "line 3: record longer than 65536 bytes", codes.InvalidArgument},
		{"NDJSON line too long", tokenOps, "supplier_id=1", "application/x-ndjson", strings.NewReader(`{"mobile":"13700000001"}` + "\n" + `{"mobile":"` + longField + `"}`), http.StatusRequestEntityTooLarge,
			"record", "line 2: record longer than 65536 bytes", codes.InvalidArgument},
		{"upload too large, declared", tokenOps, "supplier_id=1", "text/csv", strings.NewReader(big.String()), http.StatusRequestEntityTooLarge,
			"--http-max-upload-size", "upload larger than 204800 bytes", codes.InvalidArgument},
		{"upload too large, chunked", tokenOps, "supplier_id=1", "text/csv", io.MultiReader(strings.NewReader(big.String())), http.StatusRequestEntityTooLarge,
			"--http-max-upload-size", "upload larger than 204800 bytes", codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := trail.Prune(t.Context(), time.Now().Add(time.Hour), 1000); err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest(http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/blacklist/jobs:import?"+tt.query, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			switch field, desc, _ := violation(body); {
			case resp.StatusCode != tt.code:
				t.Fatalf("%d %v, want %d", resp.StatusCode, body, tt.code)
			case tt.code == http.StatusRequestEntityTooLarge:
				if !tooLargeBody(body, tt.field, limitBytes(tt.field)) || !strings.Contains(fmt.Sprint(body["message"]), tt.desc) {
					t.Fatalf("%v, want the limit %s and %q", body, tt.field, tt.desc)
				}
			case tt.field != "" && (field != tt.field || !strings.Contains(desc, tt.desc)):
				t.Fatalf("%v, want field %q with %q", body, tt.field, tt.desc)
			case tt.field == "" && !strings.Contains(fmt.Sprint(body["message"]), tt.desc):
				t.Fatalf("%v, want %q", body, tt.desc)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			events := trail.Events()
			if len(events) != 1 || events[0].RPC != server.ImportMethod || events[0].Outcome != tt.outcome || events[0].RequestID != resp.Header.Get("X-Request-Id") {
				t.Fatalf("audit events %+v, want one %v", events, tt.outcome)
			}
		})
	}
	code, list := getWithToken(t, ts, "/v1/blacklist/jobs", tokenOps)
	if jobs, _ := list["jobs"].([]any); code != http.StatusOK || len(jobs) != 0 {
		t.Fatalf("jobs left: %d %v", code, list)
	}
	if n := emulatorCalls(t, ts); n != 0 {
		t.Fatalf("%d calls reached TOP", n)
	}
}

// limitBytes is the byte count a test's limit has.
func limitBytes(limit string) string {
	switch limit {
	case "record":
		return fmt.Sprint(entryfile.MaxRecord)
	case "--http-max-upload-size":
		return "204800"
	}
	return "?"
}

func getWithToken(t *testing.T, ts *testserver.Server, path, token string) (int, map[string]any) {
	t.Helper()
	code, body, _ := doREST(t, http.DefaultClient, http.MethodGet, "http://"+ts.HTTPAddr()+path, "", http.Header{"Authorization": {"Bearer " + token}})
	return code, body
}

// TestSlowUpload: an upload that arrives too slowly is cut off with 408
// (UPLOAD_TOO_SLOW naming the limit), audited as DEADLINE_EXCEEDED, and
// leaves no job: below --http-upload-min-rate (a client sending a byte
// every 20 ms against 1000 bytes/s over 200 ms), and past
// --http-upload-timeout however steadily it sends. The client is real
// and never stops on its own: only the server's cut ends it.
func TestSlowUpload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     func(*server.Config)
		every   time.Duration
		chunk   string
		limit   string
		message string
	}{
		{"below the minimum rate", func(c *server.Config) {
			c.HTTP.UploadMinRate, c.HTTP.UploadRateWindow = 1000, 200*time.Millisecond
		}, 20 * time.Millisecond, "1", "--http-upload-min-rate", "upload slower than 1000 bytes/s over 200ms"},
		{"past the upload timeout", func(c *server.Config) {
			c.HTTP.UploadMinRate, c.HTTP.UploadTimeout = 0, 300*time.Millisecond
		}, 5 * time.Millisecond, "13700000001\n", "--http-upload-timeout", "upload took longer than 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trail := audit.NewMemory()
			ts := testserver.Start(t, tt.cfg, server.WithAuditStore(trail))
			conn, err := net.Dial("tcp", ts.HTTPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			head := "POST /v1/blacklist/jobs:import?supplier_id=1 HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"7\r\nmobile\n\r\n"
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			answered := make(chan struct{})
			go func() { // the slow client: until the server answers
				chunk := fmt.Sprintf("%x\r\n%s\r\n", len(tt.chunk), tt.chunk)
				for {
					select {
					case <-answered:
						return
					case <-time.After(tt.every):
					}
					if _, err := io.WriteString(conn, chunk); err != nil {
						return
					}
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			close(answered)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != http.StatusRequestTimeout || body["code"] != float64(codes.DeadlineExceeded) ||
				!strings.Contains(fmt.Sprint(body["message"]), tt.message) || !strings.Contains(fmt.Sprint(body["details"]), "limit:"+tt.limit) ||
				!strings.Contains(fmt.Sprint(body["details"]), "reason:"+server.ReasonUploadTooSlow) {
				t.Fatalf("%d %v", resp.StatusCode, body)
			}
			if ev := trail.Events(); len(ev) != 1 || ev[0].Outcome != codes.DeadlineExceeded {
				t.Fatalf("audit events %+v", ev)
			}
			if _, list := get(t, ts, "/v1/blacklist/jobs"); len(list["jobs"].([]any)) != 0 {
				t.Fatalf("jobs left: %v", list)
			}
		})
	}
}
