package topemu_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/servicecenterd/servicecenterd/internal/tmc/frame"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// tmcPeer is a hand-driven TMC client: frames in, frames out.
type tmcPeer struct {
	t     *testing.T
	ws    *websocket.Conn
	token string
}

func (e *env) tmcURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/" }

// dial opens a WebSocket to the emulator's TMC endpoint.
func (e *env) dial(t *testing.T) *tmcPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.tmcURL(), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &tmcPeer{t: t, ws: ws}
}

// connectFrame is a CONNECT signed with secret at the emulator's clock.
func (e *env) connectFrame(version uint8, flag int32, appKey, secret, group string, at time.Time) frame.Frame {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	f := frame.Frame{Version: version, Type: frame.Connect, Flag: flag}
	f.Add(frame.HeaderAppKey, frame.Str(appKey))
	if group != "" {
		f.Add(frame.HeaderGroupName, frame.Str(group))
	}
	f.Add(frame.HeaderTimestamp, frame.Str(ts))
	f.Add(frame.HeaderSign, frame.Str(frame.Sign(secret, appKey, group, ts)))
	f.Add(frame.HeaderSDK, frame.Str("test"))
	return f
}

func (p *tmcPeer) send(f frame.Frame) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.ws.Write(ctx, websocket.MessageBinary, f.Encode()); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// recv reads the next frame; it fails the test after 10 s.
func (p *tmcPeer) recv() frame.Frame {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := p.ws.Read(ctx)
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageBinary {
		p.t.Fatalf("got a %v frame, want binary", typ)
	}
	f, err := frame.Decode(b)
	if err != nil {
		p.t.Fatalf("decode: %v", err)
	}
	return f
}

// connect dials and completes a good handshake in group.
func (e *env) connect(t *testing.T, group string) *tmcPeer {
	t.Helper()
	p := e.dial(t)
	p.send(e.connectFrame(2, 1, topemu.DefaultAppKey, topemu.DefaultAppSecret, group, e.clock.Now()))
	ack := p.recv()
	if ack.Type != frame.ConnectAck || ack.Token == "" || ack.StatusCode != 0 {
		t.Fatalf("CONNECTACK = %+v", ack)
	}
	p.token = ack.Token
	return p
}

func (p *tmcPeer) kind(k frame.Kind, id int64, extra ...frame.Header) {
	f := frame.Frame{Type: frame.Send, Token: p.token}
	f.Add(frame.HeaderKind, frame.Byte(int8(k)))
	if k != frame.KindPull {
		f.Add(frame.HeaderID, frame.Int64(id))
	}
	f.Headers = append(f.Headers, extra...)
	p.send(f)
}

func dataID(t *testing.T, f frame.Frame) (int64, int64) {
	t.Helper()
	if k, _ := f.Kind(); f.Type != frame.Send || k != frame.KindData {
		t.Fatalf("frame %+v is not a data message", f)
	}
	id, _ := f.Get(frame.HeaderID)
	retried, _ := f.Get(frame.HeaderRetried)
	return id.Int, retried.Int
}

func publishTMC(t *testing.T, e *env, topic, content string) int64 {
	t.Helper()
	id, err := e.emu.PublishTMC(topemu.TMCMessage{Topic: topic, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func tmcWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTMCHandshake(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	now := e.clock.Now()
	tests := []struct {
		name    string
		connect frame.Frame
		code    int32
	}{
		{"v2 with a flag", e.connectFrame(2, 7, topemu.DefaultAppKey, topemu.DefaultAppSecret, "default", now), 0},
		{"v1", e.connectFrame(1, 1, topemu.DefaultAppKey, topemu.DefaultAppSecret, "default", now), 0},
		{"no flag (JS)", e.connectFrame(2, 0, topemu.DefaultAppKey, topemu.DefaultAppSecret, "default", now), 0},
		{"no group", e.connectFrame(2, 1, topemu.DefaultAppKey, topemu.DefaultAppSecret, "", now), 0},
		{"other group", e.connectFrame(2, 1, topemu.DefaultAppKey, topemu.DefaultAppSecret, "g2", now), 0},
		{"wrong secret", e.connectFrame(2, 3, topemu.DefaultAppKey, "nope", "default", now), 401},
		{"unknown app key", e.connectFrame(2, 1, "other", topemu.DefaultAppSecret, "default", now), 403},
		{"stale timestamp", e.connectFrame(2, 1, topemu.DefaultAppKey, topemu.DefaultAppSecret, "default", now.Add(-11*time.Minute)), 408},
		{"future timestamp", e.connectFrame(2, 1, topemu.DefaultAppKey, topemu.DefaultAppSecret, "default", now.Add(11*time.Minute)), 408},
		{"no sign", frame.Frame{Type: frame.Connect, Flag: 1, Headers: []frame.Header{{Name: frame.HeaderAppKey, Value: frame.Str(topemu.DefaultAppKey)}}}, 400},
		{"not a CONNECT", frame.Frame{Type: frame.Send, Flag: 1}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.dial(t)
			p.send(tt.connect)
			ack := p.recv()
			want := tt.connect.Version
			if want == 0 {
				want = 2
			}
			if ack.Type != frame.ConnectAck || ack.Version != want || ack.Flag != tt.connect.Flag || len(ack.Headers) != 0 {
				t.Fatalf("ack = %+v: want a CONNECTACK in version %d echoing flag %d", ack, want, tt.connect.Flag)
			}
			if tt.code == 0 {
				if len(ack.Token) != 36 || ack.StatusCode != 0 || ack.StatusPhrase != "" {
					t.Fatalf("ack = %+v, want a 36-character token and no error", ack)
				}
				return
			}
			if ack.StatusCode != tt.code || ack.StatusPhrase == "" || ack.Token != "" {
				t.Fatalf("ack = %+v, want code %d, a phrase and no token", ack, tt.code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, _, err := p.ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("after a refusal: %v, want a close with 1008", err)
			}
		})
	}
	if c := e.emu.TMCStatus().Counters; c.Connects != 5 || c.ConnectsRejected != 6 {
		t.Errorf("counters = %+v", c)
	}
	// Tokens differ per connection.
	a, b := e.connect(t, "default"), e.connect(t, "default")
	if a.token == b.token {
		t.Errorf("two connections got the same token %s", a.token)
	}
}

func TestTMCDataFrame(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	p := e.connect(t, "")
	content := `{"workcard_id":7000000001,"action":"create"}`
	id, err := e.emu.PublishTMC(topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardStatusUpdate", Content: content, UserID: 720978815, UserNick: "test_shop", DataID: 7000000001})
	if err != nil {
		t.Fatal(err)
	}
	f := p.recv()
	if f.Version != 2 || f.Type != frame.Send || f.Token != p.token || f.Flag != 0 || f.StatusCode != 0 {
		t.Fatalf("data frame fixed headers = %+v", f)
	}
	// Every field in the type the Java SDK casts it to.
	want := map[string]frame.Value{
		frame.HeaderKind:      frame.Byte(3),
		frame.HeaderID:        frame.Int64(id),
		frame.HeaderTopic:     frame.Str("tmall_fuwu_WorkcardStatusUpdate"),
		frame.HeaderPublisher: frame.Str("4272"),
		frame.HeaderUserID:    frame.Int64(720978815),
		frame.HeaderNick:      frame.Str("test_shop"),
		frame.HeaderTime:      frame.Date(e.clock.Now()),
		frame.HeaderOutTime:   frame.Date(e.clock.Now()),
		frame.HeaderDataID:    frame.Int64(7000000001),
		frame.HeaderRetried:   frame.Byte(0),
		frame.HeaderContent:   frame.Str(content),
	}
	if len(f.Headers) != len(want) {
		t.Errorf("headers = %+v, want %d", f.Headers, len(want))
	}
	for name, v := range want {
		got, ok := f.Get(name)
		if !ok || got.Format != v.Format || got.Int != v.Int || got.Str != v.Str {
			t.Errorf("%s = %+v, want %+v", name, got, v)
		}
	}
}

func TestTMCConfirmAndFail(t *testing.T) {
	e := newEnv(t, topemu.Config{TMCRetryDelay: -1})
	p := e.connect(t, "default")
	p.kind(frame.KindPull, 0)

	// Confirm with another connection's token: ignored, still in flight.
	id := publishTMC(t, e, "t1", "{}")
	if got, _ := dataID(t, p.recv()); got != id {
		t.Fatalf("got id %d, want %d", got, id)
	}
	foreign := &tmcPeer{t: t, ws: p.ws, token: "00000000-0000-4000-8000-000000000000"}
	foreign.kind(frame.KindConfirm, id)
	// Failed as the JS README writes it (SENDACK): redelivered, retried 1.
	f := frame.Frame{Type: frame.SendAck, Token: p.token}
	f.Add(frame.HeaderKind, frame.Byte(int8(frame.KindFailed)))
	f.Add(frame.HeaderID, frame.Int64(id))
	f.Add(frame.HeaderMsg, frame.Str("db timeout"))
	p.send(f)
	if got, retried := dataID(t, p.recv()); got != id || retried != 1 {
		t.Fatalf("redelivery = id %d retried %d, want %d and 1", got, retried, id)
	}
	// Failed as the Java SDK writes it (SEND, Void reason), then a late
	// Confirm (manual-confirm mode): confirmed, and delivered no more.
	p.kind(frame.KindFailed, id, frame.Header{Name: frame.HeaderMsg, Value: frame.Void()})
	if got, retried := dataID(t, p.recv()); got != id || retried != 2 {
		t.Fatalf("redelivery = id %d retried %d, want %d and 2", got, retried, id)
	}
	p.kind(frame.KindConfirm, id)
	tmcWait(t, "the confirm", func() bool { return e.emu.TMCStatus().Counters.Confirmed == 1 })
	p.kind(frame.KindConfirm, id) // a second confirm is unknown
	next := publishTMC(t, e, "t1", "{}")
	if got, _ := dataID(t, p.recv()); got != next {
		t.Fatalf("after the confirm got id %d, want the next message %d", got, next)
	}
	recs, err := e.emu.TMCMessages(topemu.TMCFilter{State: topemu.TMCConfirmed})
	if err != nil || len(recs) != 1 || recs[0].ID != id || recs[0].Failures != 2 || recs[0].Deliveries != 3 || recs[0].LastFailure != "" {
		t.Fatalf("confirmed records = %+v, %v", recs, err)
	}
	tmcWait(t, "the second confirm", func() bool { return e.emu.TMCStatus().Counters.UnknownConfirms == 1 })
	c := e.emu.TMCStatus().Counters
	if c.Confirmed != 1 || c.Failed != 2 || c.UnknownConfirms != 1 || c.Pulls != 1 || c.Delivered != 4 {
		t.Errorf("counters = %+v", c)
	}
}

func TestTMCRedeliveryTimeoutAndWindow(t *testing.T) {
	e := newEnv(t, topemu.Config{TMCWindow: 1, TMCRedeliveryTimeout: 20 * time.Millisecond})
	p := e.connect(t, "default")
	first := publishTMC(t, e, "t", "1")
	second := publishTMC(t, e, "t", "2")
	// The window holds one: the unconfirmed first comes again (its
	// timeout), before the second.
	if got, r := dataID(t, p.recv()); got != first || r != 0 {
		t.Fatalf("got %d/%d, want %d/0", got, r, first)
	}
	if got, r := dataID(t, p.recv()); got != first || r != 1 {
		t.Fatalf("got %d/%d, want the first again with retried 1", got, r)
	}
	p.kind(frame.KindConfirm, first)
	if got, _ := dataID(t, p.recv()); got != second {
		t.Fatalf("got %d, want the second %d", got, second)
	}
}

// TestTMCRedeliveryOrder: unconfirmed messages come again in the order
// their redelivery deadlines fall, with retried 1; a message confirmed or
// reported failed while in flight does not come back when its old
// deadline passes (it left the deadline order at once).
func TestTMCRedeliveryOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		// settle acts on the second of three delivered messages.
		settle frame.Kind
		want   []int // indexes of the published messages that come again, in order
	}{
		{"none settled", 0, []int{0, 1, 2}},
		{"second confirmed", frame.KindConfirm, []int{0, 2}},
		{"second failed", frame.KindFailed, []int{0, 2}}, // its retry waits the retry delay (an hour)
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, topemu.Config{TMCWindow: 3, TMCRedeliveryTimeout: 100 * time.Millisecond, TMCRetryDelay: time.Hour})
			p := e.connect(t, "default")
			var ids []int64
			for i := range 3 {
				ids = append(ids, publishTMC(t, e, "t", strconv.Itoa(i)))
				// Deliveries one after the other: distinct deadlines.
				if got, r := dataID(t, p.recv()); got != ids[i] || r != 0 {
					t.Fatalf("delivery %d: got %d/%d, want %d/0", i, got, r, ids[i])
				}
				time.Sleep(5 * time.Millisecond)
			}
			if tc.settle != 0 {
				p.kind(tc.settle, ids[1])
			}
			for _, i := range tc.want {
				if got, r := dataID(t, p.recv()); got != ids[i] || r != 1 {
					t.Fatalf("got %d/%d, want %d/1 (message %d again)", got, r, ids[i], i)
				}
			}
			inFlight := e.emu.TMCStatus().Groups[0].InFlight
			if inFlight != len(tc.want) {
				t.Errorf("in flight = %d, want %d", inFlight, len(tc.want))
			}
		})
	}
}

func TestTMCGroupsAreSeparate(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	other := e.connect(t, "other")
	def := e.connect(t, "default")
	id, err := e.emu.PublishTMC(topemu.TMCMessage{Topic: "t", Content: "x", Group: "other"})
	if err != nil {
		t.Fatal(err)
	}
	publishTMC(t, e, "t", "y") // group default
	if got, _ := dataID(t, other.recv()); got != id {
		t.Fatalf("group other got %d, want %d", got, id)
	}
	if got, _ := dataID(t, def.recv()); got == id {
		t.Fatal("group default got group other's message")
	}
	// A confirm from the wrong group does not count.
	def.kind(frame.KindConfirm, id)
	tmcWait(t, "the unknown confirm", func() bool { return e.emu.TMCStatus().Counters.UnknownConfirms == 1 })
	if recs, _ := e.emu.TMCMessages(topemu.TMCFilter{Group: "other"}); len(recs) != 1 || recs[0].State != topemu.TMCInFlight {
		t.Fatalf("records = %+v", recs)
	}
}

func TestTMCFaultsDelayAndDuplicate(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	p := e.connect(t, "default")
	if status := e.admin(http.MethodPut, "/_emulator/tmc/faults", `{"delay":"1h"}`, nil); status != http.StatusOK {
		t.Fatalf("PUT faults: %d", status)
	}
	held := publishTMC(t, e, "t", "held")
	if status := e.admin(http.MethodPut, "/_emulator/tmc/faults", `{"duplicate":true}`, nil); status != http.StatusOK {
		t.Fatalf("PUT faults: %d", status)
	}
	id := publishTMC(t, e, "t", "twice")
	a, _ := dataID(t, p.recv())
	b, _ := dataID(t, p.recv())
	if a != id || b != id {
		t.Fatalf("got %d and %d, want %d twice (and not the held %d)", a, b, id, held)
	}
	if recs, _ := e.emu.TMCMessages(topemu.TMCFilter{State: topemu.TMCQueued}); len(recs) != 1 || recs[0].ID != held {
		t.Fatalf("queued = %+v, want the held message", recs)
	}
}

func TestTMCPingAndPublish(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	p := e.connect(t, "default")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _, _, _ = p.ws.Read(ctx) }() // reads the pong
	if err := p.ws.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	st := e.emu.TMCStatus()
	if len(st.Groups) != 1 || len(st.Groups[0].Connections) != 1 || st.Groups[0].Connections[0].Pings != 1 {
		t.Fatalf("status = %+v", st)
	}
}

func TestTMCClientPublishIsAcked(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	p := e.connect(t, "default")
	f := frame.Frame{Type: frame.Send, Flag: 9, Token: p.token}
	f.Add(frame.HeaderKind, frame.Byte(int8(frame.KindData)))
	f.Add(frame.HeaderTopic, frame.Str("taobao_fuwu_Anything"))
	f.Add(frame.HeaderContent, frame.Str("{}"))
	p.send(f)
	ack := p.recv()
	if ack.Type != frame.SendAck || ack.Flag != 9 || ack.Token != p.token || ack.StatusCode != 0 {
		t.Fatalf("ack = %+v", ack)
	}
}

func TestTMCBadFrameClosesTheConnection(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	p := e.connect(t, "default")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.ws.Write(ctx, websocket.MessageBinary, []byte{2, 2, 9, 0}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
		t.Fatalf("read after a bad frame: %v, want a close with 1003", err)
	}
}

func TestTMCAdminAPI(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	var pub struct {
		ID int64 `json:"id"`
	}
	if status := e.admin(http.MethodPost, "/_emulator/tmc/messages", `{"topic":"tmall_fuwu_WorkcardInfo","content":{"b":[1, 2]},"user_id":5}`, &pub); status != http.StatusOK || pub.ID == 0 {
		t.Fatalf("publish: %d %+v", status, pub)
	}
	var list struct {
		Messages []topemu.TMCMessageRecord `json:"messages"`
	}
	if status := e.admin(http.MethodGet, "/_emulator/tmc/messages?state=queued&topic=tmall_fuwu_WorkcardInfo", nil, &list); status != http.StatusOK ||
		len(list.Messages) != 1 || list.Messages[0].ID != pub.ID || list.Messages[0].Content != `{"b":[1,2]}` || list.Messages[0].UserID != 5 {
		t.Fatalf("list: %d %+v", status, list)
	}
	var st topemu.TMCStatus
	if status := e.admin(http.MethodGet, "/_emulator/tmc", nil, &st); status != http.StatusOK ||
		st.Endpoint != e.tmcURL() || st.Counters.Published != 1 || st.Groups[0].Queued != 1 || st.Settings.Window != topemu.DefaultTMCWindow {
		t.Fatalf("status: %d %+v", status, st)
	}
	bad := []struct {
		verb, path, body string
		status           int
	}{
		{http.MethodPost, "/_emulator/tmc/messages", `{"content":"x"}`, http.StatusBadRequest},
		{http.MethodPost, "/_emulator/tmc/messages", `{"topic":"t","content":5}`, http.StatusBadRequest},
		{http.MethodPost, "/_emulator/tmc/messages", `{"topic":"t","extra":1}`, http.StatusBadRequest},
		{http.MethodGet, "/_emulator/tmc/messages?state=lost", "", http.StatusBadRequest},
		{http.MethodGet, "/_emulator/tmc/messages?limit=x", "", http.StatusBadRequest},
		{http.MethodPut, "/_emulator/tmc/faults", `{"delay":-5}`, http.StatusBadRequest},
		{http.MethodPut, "/_emulator/tmc/faults", `{"drop":true}`, http.StatusBadRequest},
		{http.MethodPut, "/_emulator/tmc/settings", `{"redelivery_timeout":"1s","window":0}`, http.StatusBadRequest},
		{http.MethodPut, "/_emulator/tmc/settings", `{"redelivery_timeout":"1s","retry_delay":"0s","window":5}`, http.StatusOK},
		{http.MethodPost, "/_emulator/tmc/drop", "", http.StatusOK},
		{http.MethodDelete, "/_emulator/tmc/faults", "", http.StatusOK},
		{http.MethodGet, "/", "", http.StatusUpgradeRequired},
	}
	for _, b := range bad {
		var in any
		if b.body != "" {
			in = b.body
		}
		if status := e.admin(b.verb, b.path, in, nil); status != b.status {
			t.Errorf("%s %s %s: %d, want %d", b.verb, b.path, b.body, status, b.status)
		}
	}
	// Reset forgets the messages.
	if status := e.admin(http.MethodPost, "/_emulator/reset", nil, nil); status != http.StatusOK {
		t.Fatal("reset")
	}
	if recs, _ := e.emu.TMCMessages(topemu.TMCFilter{}); len(recs) != 0 {
		t.Fatalf("after reset: %+v", recs)
	}
}

func TestWorkcardLifecycle(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	p := e.connect(t, "default")
	content := func(f frame.Frame) map[string]any {
		t.Helper()
		v, _ := f.Get(frame.HeaderContent)
		var m map[string]any
		if err := json.Unmarshal([]byte(v.Str), &m); err != nil {
			t.Fatalf("content %q: %v", v.Str, err)
		}
		return m
	}
	topic := func(f frame.Frame) string { v, _ := f.Get(frame.HeaderTopic); return v.Str }

	var created struct {
		Workcard topemu.Workcard `json:"workcard"`
		ID       int64           `json:"tmc_message_id"`
	}
	if status := e.admin(http.MethodPost, "/_emulator/workcards", `{"service_store_id":12345,"fulfil_task_ids":[77],"buyer_location":330106,"auction_sku_properties":"颜色:白"}`, &created); status != http.StatusOK {
		t.Fatalf("create: %d", status)
	}
	wc := created.Workcard
	if wc.ID <= 11111222 || wc.Status != topemu.WorkcardCreated || wc.ProviderID == 0 {
		t.Fatalf("workcard = %+v", wc)
	}
	f := p.recv()
	if id, _ := dataID(t, f); id != created.ID || topic(f) != topemu.TopicWorkcardInfo {
		t.Fatalf("got %s %d, want WorkcardInfo %d", topic(f), id, created.ID)
	}
	info := content(f)
	var result map[string]any
	if err := json.Unmarshal([]byte(info["result"].(string)), &result); err != nil ||
		result["workcard_id"] != float64(wc.ID) || info["buyer_location"] != float64(330106) || info["auction_sku_properties"] != "颜色:白" {
		t.Fatalf("WorkcardInfo content = %v (%v)", info, err)
	}
	p.kind(frame.KindConfirm, created.ID)

	// assignworker publishes the status update.
	_, body := e.call(assign(map[string]string{"workcard_id": strconv.FormatInt(wc.ID, 10), "target_worker_id": "1234567"}))
	var ar top.AssignWorkerResponse
	ok(t, top.MethodAssignWorker, body, &ar)
	if !ar.Result.Success {
		t.Fatalf("assign: %s", body)
	}
	f = p.recv()
	upd := content(f)
	if topic(f) != topemu.TopicWorkcardStatusUpdate || upd["action"] != "assign" || upd["workcard_id"] != float64(wc.ID) ||
		upd["type"] != float64(1) || upd["update_date"] != "2026-03-02 09:30:00" {
		t.Fatalf("status update = %s %v", topic(f), upd)
	}
	if got := e.emu.Snapshot(); !hasWorkcard(got, wc.ID, topemu.WorkcardAssigned) {
		t.Fatalf("workcard not assigned in the state")
	}

	// Admin status changes: complete, then nothing more.
	var changed struct {
		Workcard topemu.Workcard `json:"workcard"`
	}
	path := "/_emulator/workcards/" + strconv.FormatInt(wc.ID, 10) + "/status"
	if status := e.admin(http.MethodPost, path, `{"action":"complete","comment":"done","used_service_count":1}`, &changed); status != http.StatusOK || changed.Workcard.Status != topemu.WorkcardCompleted {
		t.Fatalf("complete: %d %+v", status, changed)
	}
	upd = content(p.recv())
	if upd["action"] != "complete" || upd["comment"] != "done" || upd["used_service_count"] != float64(1) {
		t.Fatalf("complete update = %v", upd)
	}
	for _, tt := range []struct {
		path, body string
		status     int
	}{
		{path, `{"action":"cancel"}`, http.StatusConflict},
		{"/_emulator/workcards/999/status", `{"action":"cancel"}`, http.StatusNotFound},
		{"/_emulator/workcards/x/status", `{"action":"cancel"}`, http.StatusBadRequest},
		{"/_emulator/workcards/2345678/status", `{"action":"explode"}`, http.StatusBadRequest},
		{"/_emulator/workcards", `{"service_store_id":999}`, http.StatusBadRequest},
		{"/_emulator/workcards", `{"id":2345678,"service_store_id":12345}`, http.StatusBadRequest},
	} {
		if status := e.admin(http.MethodPost, tt.path, tt.body, nil); status != tt.status {
			t.Errorf("POST %s %s: %d, want %d", tt.path, tt.body, status, tt.status)
		}
	}
}

func hasWorkcard(s *topemu.State, id int64, status string) bool {
	for _, wc := range s.Workcards {
		if wc.ID == id {
			return wc.Status == status
		}
	}
	return false
}

func TestTMCCloseEndsConnections(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	p := e.connect(t, "default")
	if err := e.emu.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := p.ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("read after Close: %v, want a close with 1001", err)
	}
}

func TestTMCServerPings(t *testing.T) {
	e := newEnv(t, topemu.Config{TMCPingInterval: 20 * time.Millisecond})
	// A client that keeps reading answers the pings and stays.
	alive := e.connect(t, "alive")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, _, err := alive.ws.Read(ctx); err != nil {
				return
			}
		}
	}()
	tmcWait(t, "two answered pings", func() bool {
		for _, g := range e.emu.TMCStatus().Groups {
			if g.Name == "alive" && len(g.Connections) == 1 && g.Connections[0].ServerPings >= 2 {
				return true
			}
		}
		return false
	})
	// A client that stops reading holding a message is dropped, and the
	// message goes back to the queue.
	dead := e.connect(t, "default")
	id := publishTMC(t, e, "t", "{}")
	if got, _ := dataID(t, dead.recv()); got != id {
		t.Fatalf("got %d, want %d", got, id)
	}
	tmcWait(t, "the drop and the requeue", func() bool {
		c := e.emu.TMCStatus().Counters
		return c.PingTimeouts == 1 && c.Redelivered == 1
	})
	if recs, _ := e.emu.TMCMessages(topemu.TMCFilter{Group: "default"}); len(recs) != 1 || recs[0].State != topemu.TMCQueued || recs[0].Retried != 1 {
		t.Fatalf("records = %+v", recs)
	}
}
