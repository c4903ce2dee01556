package topclient

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// exampleRequests holds one request per TOP method that the emulator's
// demo data accepts. TestEveryMethod fails for a method without one.
func exampleRequests() map[string]top.Request {
	return map[string]top.Request{
		top.MethodAssignWorker: &top.AssignWorkerRequest{WorkcardID: 2345678, TargetWorkerID: 1234567, Type: top.OperatorProvider},
		top.MethodWorkerUpdate: &top.WorkerUpdateRequest{Worker: &top.WorkerDto{
			Name: "张三", Phone: 13712345678, BizType: top.BizTypeApplianceInstallation, ProviderID: 1}},
		top.MethodWorkerTagList:    &top.TagListGetRequest{IDNumber: "11010519491231002X", Mobile: "13245678901"},
		top.MethodVirtualPhoneBind: &top.VirtualPhoneBindRequest{WorkcardRequest: &top.WorkcardBaseRequest{WorkcardID: 11111222, RequestSource: &top.WorkcardRequestSource{}}},
		top.MethodBlacklistSync: &top.BlacklistSyncRequest{UserBlacklistRequest: &top.UserBlacklistRequest{
			RequestID: "walk-1", RequestTime: 1656674541001, SupplierID: "10000000001", ServiceType: top.ServiceTypePickup,
			AbilityType: top.AbilityTypePickup, OperateType: top.OperateUpsert, Blacklist: []top.Blacklist{{Mobile: "13111111111", Reason: "1"}}}},
	}
}

// bodies records the form bodies a client sends.
type bodies struct {
	rt   http.RoundTripper
	mu   sync.Mutex
	seen []url.Values
}

func (b *bodies) RoundTrip(r *http.Request) (*http.Response, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	form, _ := url.ParseQuery(string(raw))
	b.mu.Lock()
	b.seen = append(b.seen, form)
	b.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return b.rt.RoundTrip(r)
}

func (b *bodies) take() []url.Values {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.seen
	b.seen = nil
	return out
}

// TestEveryMethod walks top.Methods against the real emulator: each
// method's example call succeeds through Invoke, decodes into the method's
// response with TOP's request_id, sends the session exactly when the
// method takes one, and after one HTTP 503 is retried exactly when the
// method is idempotent.
func TestEveryMethod(t *testing.T) {
	t.Parallel()
	emu, err := topemu.New(topemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		srv.Close()
		_ = emu.Close()
	})
	rec := &bodies{rt: newTransport()}
	var infos []CallInfo
	var mu sync.Mutex
	c, err := New(Config{
		URL: srv.URL + "/router/rest", AppKey: topemu.DefaultAppKey, AppSecret: topemu.DefaultAppSecret,
		Session: topemu.DefaultSession, Transport: rec, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond,
		Observer: func(ci CallInfo) {
			mu.Lock()
			infos = append(infos, ci)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	lastInfo := func() CallInfo {
		mu.Lock()
		defer mu.Unlock()
		return infos[len(infos)-1]
	}
	faults := func(doc string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_emulator/faults", strings.NewReader(doc))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT faults: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	examples := exampleRequests()
	for _, m := range top.Methods() { // not parallel: they share the emulator's fault rules
		req, ok := examples[m.Name]
		if !ok {
			t.Errorf("%s: no example request", m.Name)
			continue
		}
		resp := m.NewResponse()
		if err := c.Invoke(testCtx(t), m, req, resp); err != nil || resp.Err() != nil {
			t.Errorf("%s: %v, business %v", m.Name, err, resp.Err())
			continue
		}
		sent := rec.take()
		if len(sent) != 1 || sent[0].Get(top.ParamMethod) != m.Name {
			t.Errorf("%s: sent %v", m.Name, sent)
			continue
		}
		if got := sent[0].Has(top.ParamSession); got != m.Session {
			t.Errorf("%s: session sent %v, want %v", m.Name, got, m.Session)
		}
		if info := lastInfo(); resp.TOPRequestID() == "" || info.RequestID != resp.TOPRequestID() {
			t.Errorf("%s: request_id %q, observed %q", m.Name, resp.TOPRequestID(), info.RequestID)
		}

		faults(`{"rules": [{"method": "` + m.Name + `", "count": 1, "http_status": 503}]}`)
		err := c.Invoke(testCtx(t), m, req, m.NewResponse())
		attempts := len(rec.take())
		switch {
		case m.Idempotent() && (err != nil || attempts != 2):
			t.Errorf("%s (idempotent) after a 503: %v after %d attempts, want success after 2", m.Name, err, attempts)
		case !m.Idempotent():
			var te *TransportError
			if !errors.As(err, &te) || te.StatusCode != 503 || attempts != 1 {
				t.Errorf("%s (a write) after a 503: %v after %d attempts, want the 503 after 1", m.Name, err, attempts)
			}
		}
		faults(`{"rules": []}`)

		if err := c.Invoke(testCtx(t), m, nil, m.NewResponse()); err == nil {
			t.Errorf("%s: nil request accepted", m.Name)
		}
		for _, other := range top.Methods() {
			if other.Name != m.Name {
				if err := c.Invoke(testCtx(t), other, req, other.NewResponse()); err == nil {
					t.Errorf("%s's request accepted as %s", m.Name, other.Name)
				}
				break
			}
		}
		if n := len(rec.take()); n != 0 {
			t.Errorf("%s: refused calls reached TOP (%d)", m.Name, n)
		}
	}
}
