package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testpki"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// Credentials and personal data of the end-to-end run. Every one of them
// must stay out of the logs, the metrics and the emulator's recordings.
const (
	appSecret  = "e2e-app-secret-Qx81v"
	session    = "e2e-session-Kz42w"
	tokenOps   = "scd_e2e-ops-token-5m2"
	tokenTags  = "scd_e2e-tags-token-9p7"
	badToken   = "scd_e2e-stolen-token-3j1"
	tagsID     = "11010519491231002X"
	tagsMobile = "13245678901"
)

var personalData = []string{
	tagsID, tagsMobile,
	"33010619880606123X", "13800000000", // unknown worker
	"110105194912310021", "23245678901", // invalid ID and mobile
	"13712345678",                               // worker.update phone
	"13698765432",                               // blacklisted worker
	"13900000001", "13900000002", "13900000009", // blacklist entries
}

// TestEndToEndLeakScan runs the real `servicecenterd serve` (TLS, bearer
// tokens, a separate TOP emulator with its own credentials, the secret
// from a file and the session from the environment), makes calls carrying
// phone and ID numbers over gRPC and REST, failures included, then scans
// the server's logs, /metrics and the emulator's logs and recorded calls:
// no unmasked phone or ID number, no app secret, no session, no token.
func TestEndToEndLeakScan(t *testing.T) {
	dir := t.TempDir()
	emuLogs := &logbuf.Buffer{}
	emu, err := topemu.New(topemu.Config{AppKey: "e2e-app", AppSecret: appSecret, Session: session,
		Logger: slog.New(slog.NewJSONHandler(emuLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(emu)
	defer func() {
		upstream.Close()
		_ = emu.Close()
	}()

	ca := testpki.NewCA(t, "e2e CA")
	certFile, keyFile := ca.Localhost(t).WriteFiles(t, dir, "server")
	secretFile := filepath.Join(dir, "app-secret")
	testpki.WriteFile(t, secretFile, []byte(appSecret+"\n"))
	clientsFile := filepath.Join(dir, "clients.yaml")
	testpki.WriteFile(t, clientsFile, []byte(`clients:
  - name: ops
    token_sha256: [`+auth.HashToken(tokenOps)+`]
    allow: ["*"]
  - name: tags
    token_sha256: [`+auth.HashToken(tokenTags)+`]
    allow: [servicecenter.v1.WorkerService/GetWorkerTags]
`))
	t.Setenv("SERVICECENTERD_TOP_SESSION", session)

	logs := &logbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{
			"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
			"--top-url", upstream.URL + "/router/rest", "--top-app-key", "e2e-app", "--top-app-secret-file", secretFile,
			"--top-sign-method", "md5", "--clients-file", clientsFile, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
			"--log-format", "json", "--log-level", "debug", "--data-dir", filepath.Join(dir, "data"),
		}, io.Discard, logs)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	grpcAddr, httpAddr := testserver.WaitStarted(t, logs, done)

	clientTLS := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tr := &http.Transport{TLSClientConfig: clientTLS}
	defer tr.CloseIdleConnections()
	web := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	workers, workcards, logistics := scv1.NewWorkerServiceClient(conn), scv1.NewWorkcardServiceClient(conn), scv1.NewLogisticsServiceClient(conn)
	call := func(token string) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	rest := func(method, path, token, body string) int {
		req, err := http.NewRequest(method, "https://"+httpAddr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	expect := func(what string, err error, want codes.Code) {
		t.Helper()
		if status.Code(err) != want {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	expectHTTP := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: HTTP %d, want %d", what, got, want)
		}
	}
	emuAdmin := func(method, path, body string) string {
		req, err := http.NewRequest(method, upstream.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := upstream.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}

	tags := &scv1.GetWorkerTagsRequest{IdNumber: tagsID, Mobile: tagsMobile}
	_, err = workers.GetWorkerTags(call(tokenTags), tags)
	expect("tags", err, codes.OK)
	expectHTTP("tags over REST", rest(http.MethodPost, "/v1/workers:getTags", tokenOps, `{"id_number":"`+tagsID+`","mobile":"`+tagsMobile+`"}`), 200)
	_, err = workers.GetWorkerTags(call(tokenTags), &scv1.GetWorkerTagsRequest{IdNumber: "33010619880606123X", Mobile: "13800000000"})
	expect("unknown worker", err, codes.NotFound)
	_, err = workers.GetWorkerTags(call(tokenTags), &scv1.GetWorkerTagsRequest{IdNumber: "110105194912310021", Mobile: "23245678901"})
	expect("invalid", err, codes.InvalidArgument)
	expectHTTP("invalid over REST", rest(http.MethodPost, "/v1/workers:getTags", tokenOps, `{"id_number":"110105194912310021","mobile":"23245678901"}`), 400)
	_, err = workers.GetWorkerTags(call(badToken), tags)
	expect("stolen token", err, codes.Unauthenticated)
	expectHTTP("stolen token over REST", rest(http.MethodPost, "/v1/workers:getTags", badToken, `{"id_number":"`+tagsID+`","mobile":"`+tagsMobile+`"}`), 401)
	_, err = workcards.AssignWorker(call(tokenTags), &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerMobile: tagsMobile})
	expect("assign by a tags-only client", err, codes.PermissionDenied)
	_, err = workcards.AssignWorker(call(tokenOps), &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerMobile: tagsMobile,
		Type: scv1.OperatorType_OPERATOR_TYPE_STORE, ServiceStoreId: 12345})
	expect("assign", err, codes.OK)
	expectHTTP("assign a blacklisted worker over REST", rest(http.MethodPost, "/v1/workcards/2345678:assignWorker", tokenOps, `{"target_worker_mobile":"13698765432"}`), 400)
	expectHTTP("update over REST", rest(http.MethodPost, "/v1/workers:update", tokenOps,
		`{"worker":{"name":"张三","phone":"13712345678","identity_id":"33010619880606123X","biz_type":"appliance_install","provider_id":1}}`), 200)
	_, err = logistics.SyncUserBlacklist(call(tokenOps), &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT,
		Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}, {Mobile: "13900000002"}}})
	expect("sync", err, codes.OK)
	// TOP echoing a phone number in its error message.
	emuAdmin(http.MethodPut, "/_emulator/faults", `{"rules":[{"method":"`+top.MethodBlacklistSync+`","count":3,
		"error":{"code":15,"sub_code":"isv.invalid-parameter","sub_msg":"mobile 13900000009 is invalid"}}]}`)
	expectHTTP("sync refused by TOP over REST", rest(http.MethodPost, "/v1/blacklist:sync", tokenOps,
		`{"supplier_id":"10000000001","operate_type":"OPERATE_TYPE_UPSERT","blacklist":[{"mobile":"13900000009"}]}`), 400)
	emuAdmin(http.MethodPut, "/_emulator/faults", `{"rules":[{"method":"`+top.MethodWorkerTagList+`","count":3,"http_status":502}]}`)
	_, err = workers.GetWorkerTags(call(tokenOps), tags)
	expect("bad gateway", err, codes.Unavailable)
	_, err = workcards.BindVirtualPhone(call(tokenOps), &scv1.BindVirtualPhoneRequest{WorkcardId: 11111222, RequestSource: &scv1.WorkcardRequestSource{ServiceStoreCode: "FWS1122"}})
	expect("bind", err, codes.OK)

	metricsReq, err := http.NewRequest(http.MethodGet, "https://"+httpAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := web.Do(metricsReq)
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	recorded := emuAdmin(http.MethodGet, "/_emulator/calls", "")

	sources := map[string]string{
		"server logs":        logs.String(),
		"/metrics":           string(metricsText),
		"emulator logs":      emuLogs.String(),
		"emulator recording": recorded,
	}
	forbidden := append([]string{appSecret, session, tokenOps, tokenTags, badToken, auth.HashToken(tokenOps)}, personalData...)
	for name, text := range sources {
		for _, f := range forbidden {
			if strings.Contains(text, f) {
				i := strings.Index(text, f)
				t.Errorf("%s contain %q: …%s…", name, f, text[max(0, i-120):min(len(text), i+60)])
			}
		}
	}
	// The scan is not vacuous: the data is there, masked.
	for name, want := range map[string][]string{
		"server logs":        {`"top_app_secret_file":"` + secretFile, `"top_session":"[REDACTED]"`, `"msg":"audit"`, "132****8901", "139****0009", "access denied"},
		"/metrics":           {`servicecenterd_top_calls_total{method="tmall.servicecenter.worker.taglist.get",outcome="ok"}`, `grpc_code="PermissionDenied"`},
		"emulator recording": {"110105********002X", "132****8901", "137****5678", "330106********123X", "[REDACTED]"},
	} {
		for _, w := range want {
			if !strings.Contains(sources[name], w) {
				t.Errorf("%s lack %q", name, w)
			}
		}
	}
	var calls struct {
		Recorded int `json:"recorded"`
	}
	if err := json.Unmarshal([]byte(recorded), &calls); err != nil || calls.Recorded < 8 {
		t.Errorf("emulator recorded %d calls (%v)", calls.Recorded, err)
	}
	if t.Failed() {
		_ = os.WriteFile(filepath.Join(dir, "logs.json"), []byte(logs.String()), 0o600)
	}
}
