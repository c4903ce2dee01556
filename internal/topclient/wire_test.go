package topclient

import (
	"compress/gzip"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TestOracleSignOfficialVector checks the test's own signature oracle
// against TOP's published example (docs/top-protocol.md §3), so that the
// wire tests below check the client against the specification.
func TestOracleSignOfficialVector(t *testing.T) {
	t.Parallel()
	form := url.Values{
		"method": {"taobao.item.seller.get"}, "app_key": {"12345678"}, "session": {"test"},
		"timestamp": {"2016-01-01 12:00:00"}, "format": {"json"}, "v": {"2.0"}, "sign_method": {"md5"},
		"fields": {"num_iid,title,nick,price,num"}, "num_iid": {"11223344"},
	}
	if got := oracleSign("md5", "helloworld", form); got != "66987CB115214E59E6EC978214934FB8" {
		t.Fatalf("oracle md5 = %s", got)
	}
}

// TestWireFormat checks what crosses the wire for every sign method, with
// Chinese values, a nested object and a host clock in another time zone.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	// 2016-06-28 02:30:00 UTC is 2016-06-27 21:30:00 in UTC-5 and
	// 2016-06-28 10:30:00 in UTC+8.
	instant := time.Date(2016, 6, 28, 2, 30, 0, 0, time.UTC)
	elsewhere := time.FixedZone("UTC-5", -5*60*60)
	reg := top.Time{Time: time.Date(2016, 6, 28, 10, 30, 0, 0, top.Beijing())}
	worker := &top.WorkerDto{
		Name: "张师傅 & 李", Phone: 13812345678, BizType: "appliance_install",
		Address:      &top.AddressDto{AddressDetail: "文一西路969号", AddressNames: []string{"浙江省", "杭州市"}},
		ServiceAreas: []top.DivisionDto{{DivisionNames: []string{"浙江省", "杭州市", "余杭区"}}},
		ServiceTypes: []string{"install", "repair"}, RegisterTime: reg,
	}
	wantWorker := `{"address":{"address_detail":"文一西路969号","address_names":["浙江省","杭州市"]},` +
		`"biz_type":"appliance_install","name":"张师傅 \u0026 李","phone":13812345678,"register_time":"2016-06-28 10:30:00",` +
		`"service_areas":[{"division_names":["浙江省","杭州市","余杭区"]}],"service_types":["install","repair"]}`
	for _, m := range []top.SignMethod{top.SignMD5, top.SignHMAC, top.SignHMACSHA256} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, nil)
			c := newTestClient(t, u, func(cfg *Config) {
				cfg.SignMethod = m
				cfg.Now = func() time.Time { return instant.In(elsewhere) }
				cfg.Version = "v9.9.9"
			})
			if _, err := top.Do(testCtx(t), c, top.WorkerUpdate, &top.WorkerUpdateRequest{Worker: worker}); err != nil {
				t.Fatal(err)
			}
			got := u.received()[0]
			if !got.SignOK {
				t.Fatalf("signature %s does not match the documented algorithm", got.Form.Get("sign"))
			}
			if got.HTTPMethod != http.MethodPost || got.Path != "/router/rest" || got.RawQuery != "" {
				t.Fatalf("request %s %s?%s: want POST /router/rest with every parameter in the body", got.HTTPMethod, got.Path, got.RawQuery)
			}
			if got.ContentType != "application/x-www-form-urlencoded; charset=utf-8" {
				t.Fatalf("Content-Type %q", got.ContentType)
			}
			want := map[string]string{
				"method": top.MethodWorkerUpdate, "app_key": testAppKey, "session": testSession,
				"timestamp": "2016-06-28 10:30:00", "format": "json", "v": "2.0", "sign_method": string(m),
				"partner_id": "servicecenterd-v9.9.9", "worker": wantWorker,
			}
			for k, v := range want {
				if g := got.Form.Get(k); g != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
			for k, v := range got.Form {
				if _, ok := want[k]; !ok && k != "sign" {
					t.Errorf("unexpected parameter %s=%q", k, v)
				}
				if len(v) != 1 || v[0] == "" {
					t.Errorf("parameter %s sent as %q", k, v)
				}
			}
		})
	}
}

// TestSessionPlacement checks that the session goes only where it belongs:
// never when not configured, never to the blacklist sync, always (when
// configured) to the tmall.* methods and to other methods through Call.
func TestSessionPlacement(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	with := newTestClient(t, u, nil)
	without := newTestClient(t, u, func(cfg *Config) { cfg.Session = "" })
	ctx := testCtx(t)
	tests := []struct {
		name        string
		call        func(*Client) error
		wantSession bool
	}{
		{"taglist with session", func(c *Client) error {
			_, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
			return err
		}, true},
		{"blacklist with session", func(c *Client) error {
			_, err := top.Do(ctx, c, top.BlacklistSync, &top.BlacklistSyncRequest{UserBlacklistRequest: &top.UserBlacklistRequest{RequestID: "r1"}})
			return err
		}, false},
		{"generic with session", func(c *Client) error {
			return c.Call(ctx, "taobao.item.seller.get", []top.Param{{Key: "num_iid", Value: "1"}}, nil)
		}, true},
		{"taglist without session", func(*Client) error {
			_, err := top.Do(ctx, without, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
			return err
		}, false},
		{"generic without session", func(*Client) error {
			return without.Call(ctx, "taobao.item.seller.get", []top.Param{{Key: "num_iid", Value: "1"}}, nil)
		}, false},
	}
	for _, tt := range tests {
		before := len(u.received())
		if err := tt.call(with); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := u.received()[before]
		if _, has := got.Form["session"]; has != tt.wantSession {
			t.Errorf("%s: session sent = %v, want %v", tt.name, has, tt.wantSession)
		}
	}
}

// TestEmptyValuesNotSent checks that empty business values never cross the
// wire, through typed and generic calls.
func TestEmptyValuesNotSent(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	c := newTestClient(t, u, func(cfg *Config) { cfg.Simplify = true })
	ctx := testCtx(t)
	if _, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 7, TargetWorkerName: "王五"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "tmall.servicecenter.x", []top.Param{{Key: "a", Value: ""}, {Key: "b", Value: "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	calls := u.received()
	for _, got := range calls {
		for k, v := range got.Form {
			if len(v) != 1 || v[0] == "" {
				t.Errorf("%s: parameter %s sent as %q", got.Method, k, v)
			}
		}
		if got.Form.Get("simplify") != "true" {
			t.Errorf("%s: simplify = %q", got.Method, got.Form.Get("simplify"))
		}
	}
	if calls[0].Form.Get("workcard_id") != "7" || calls[0].Form.Get("target_worker_name") != "王五" || calls[0].Form.Has("outer_id") {
		t.Errorf("assignworker form %v", calls[0].Form)
	}
	if calls[1].Form.Has("a") || calls[1].Form.Get("b") != "1" {
		t.Errorf("generic form %v", calls[1].Form)
	}
}

// TestCallRefusesBadParams checks the generic call's parameter checks.
func TestCallRefusesBadParams(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	c := newTestClient(t, u, nil)
	ctx := testCtx(t)
	for _, params := range [][]top.Param{
		{{Key: "sign", Value: "X"}},
		{{Key: "app_key", Value: "other"}},
		{{Key: "", Value: "x"}},
		{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}},
	} {
		if err := c.Call(ctx, "taobao.x.get", params, nil); err == nil {
			t.Errorf("Call with %v succeeded", params)
		}
	}
	if err := c.Call(ctx, "", nil, nil); err == nil {
		t.Error("Call without a method succeeded")
	}
	var notPointer struct{}
	if err := c.Call(ctx, "taobao.x.get", nil, notPointer); err == nil {
		t.Error("Call into a non-pointer succeeded")
	}
	if n := u.count.Load(); n != 0 {
		t.Fatalf("refused calls reached the gateway %d times", n)
	}
	if err := c.Call(ctx, "taobao.x.get", []top.Param{{Key: "target_app_key", Value: "9"}}, nil); err != nil {
		t.Fatalf("target_app_key refused: %v", err)
	}
}

// TestGzipAnswer checks that the client asks for gzip and reads it.
func TestGzipAnswer(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, got received, _ int) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			http.Error(w, "want gzip", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		zw := gzip.NewWriter(w)
		_, _ = zw.Write([]byte(okBody(got.Method, false)))
		_ = zw.Close()
	})
	c := newTestClient(t, u, nil)
	resp, err := top.Do(testCtx(t), c, top.VirtualPhoneBind, &top.VirtualPhoneBindRequest{WorkcardRequest: &top.WorkcardBaseRequest{WorkcardID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Result.ResultData != "17788889898" {
		t.Fatalf("result %+v", resp.Result)
	}
}

// TestTLS checks that the client verifies the gateway's certificate (a
// self-signed one is refused, once, without retries) and works over
// HTTPS and HTTP/2 when the certificate is trusted.
func TestTLS(t *testing.T) {
	t.Parallel()
	u := &upstream{t: t, secret: testSecret}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	u.srv.EnableHTTP2 = true
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)

	untrusting := newTestClient(t, u, nil)
	_, err := top.Do(testCtx(t), untrusting, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
	var te *TransportError
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &te) || !errors.As(err, &certErr) || te.Attempts != 1 {
		t.Fatalf("self-signed gateway: err = %v", err)
	}
	if u.count.Load() != 0 {
		t.Fatal("request reached an unverified gateway")
	}

	var protos []string
	u.mu.Lock()
	u.reply = func(w http.ResponseWriter, r *http.Request, got received, _ int) {
		u.mu.Lock()
		protos = append(protos, r.Proto)
		u.mu.Unlock()
		writeJSON(w, okBody(got.Method, false))
	}
	u.mu.Unlock()
	trusting := newTestClient(t, u, func(cfg *Config) { cfg.Transport = u.srv.Client().Transport })
	resp, err := top.Do(testCtx(t), trusting, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
	if err != nil || !resp.Result.Success {
		t.Fatalf("trusted gateway: %v", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(protos) != 1 || protos[0] != "HTTP/2.0" {
		t.Fatalf("protocols %v, want HTTP/2.0", protos)
	}
}
