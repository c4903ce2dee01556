package tmc_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"
	"github.com/servicecenterd/servicecenterd/internal/tmc"
	"github.com/servicecenterd/servicecenterd/internal/tmc/frame"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// emulator runs a TOP emulator with its TMC endpoint on a loopback
// listener and returns it with its ws:// URL.
func emulator(t *testing.T, cfg topemu.Config) (*topemu.Emulator, string) {
	t.Helper()
	if cfg.TMCRetryDelay == 0 {
		cfg.TMCRetryDelay = -1 // redeliver a failed message at once
	}
	emu, err := topemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		_ = emu.Close()
		srv.Close()
	})
	return emu, "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

// recorder is a Handler that records what it got; fail decides, per
// call, whether it returns an error.
type recorder struct {
	mu   sync.Mutex
	got  []tmc.Message
	fail func(m tmc.Message, n int) error // n: deliveries of m.ID so far, 1-based
}

func (r *recorder) handle(_ context.Context, m tmc.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	if r.fail != nil {
		n := 0
		for _, g := range r.got {
			if g.ID == m.ID {
				n++
			}
		}
		return r.fail(m, n)
	}
	return nil
}

func (r *recorder) messages() []tmc.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// metrics records what the client reports.
type metrics struct {
	mu sync.Mutex
	v  reported
}

// reported is what the client reported so far.
type reported struct {
	states       []tmc.State
	connected    int
	disconnected []string
	received     int
	handled      map[tmc.Outcome]int
}

func (m *metrics) StateChanged(s tmc.State) {
	m.mu.Lock()
	m.v.states = append(m.v.states, s)
	m.mu.Unlock()
}
func (m *metrics) Connected() { m.mu.Lock(); m.v.connected++; m.mu.Unlock() }
func (m *metrics) Disconnected(reason string) {
	m.mu.Lock()
	m.v.disconnected = append(m.v.disconnected, reason)
	m.mu.Unlock()
}
func (m *metrics) Received(string, time.Duration) { m.mu.Lock(); m.v.received++; m.mu.Unlock() }
func (m *metrics) Handled(_ string, o tmc.Outcome, _ time.Duration) {
	m.mu.Lock()
	if m.v.handled == nil {
		m.v.handled = map[tmc.Outcome]int{}
	}
	m.v.handled[o]++
	m.mu.Unlock()
}

func (m *metrics) snapshot() reported {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := reported{states: slices.Clone(m.v.states), connected: m.v.connected, disconnected: slices.Clone(m.v.disconnected),
		received: m.v.received, handled: map[tmc.Outcome]int{}}
	for k, v := range m.v.handled {
		out.handled[k] = v
	}
	return out
}

// run starts a client against url with handler h and stops it at cleanup.
func run(t *testing.T, cfg tmc.Config, h tmc.Handler) (*tmc.Client, *metrics, *logbuf.Buffer) {
	t.Helper()
	m := &metrics{}
	logs := &logbuf.Buffer{}
	if cfg.AppKey == "" {
		cfg.AppKey, cfg.AppSecret = topemu.DefaultAppKey, topemu.DefaultAppSecret
	}
	cfg.Metrics = m
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Backoff = backoff.Policy{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: backoff.Equal}
	c, err := tmc.NewClient(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if s := c.State(); s != tmc.StateIdle {
			t.Errorf("State after Run = %s, want idle", s)
		}
	})
	return c, m, logs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func publish(t *testing.T, emu *topemu.Emulator, m topemu.TMCMessage) int64 {
	t.Helper()
	id, err := emu.PublishTMC(m)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func counters(emu *topemu.Emulator) topemu.TMCCounters { return emu.TMCStatus().Counters }

func TestClientReceivesAndConfirms(t *testing.T) {
	emu, url := emulator(t, topemu.Config{})
	rec := &recorder{}
	client, m, logs := run(t, tmc.Config{URL: url}, rec.handle)
	waitFor(t, "connected", func() bool { return client.State() == tmc.StateConnected })

	before := time.Now().Add(-time.Second)
	msgs := []topemu.TMCMessage{
		{Topic: "tmall_fuwu_WorkcardInfo", Content: `{"result":"{}"}`, UserID: 720978815, UserNick: "test_shop", DataID: 7000000001},
		{Topic: "tmall_fuwu_WorkcardStatusUpdate", Content: `{"workcard_id":7000000001,"action":"create"}`},
		{Topic: "tmall_servicecenter_TaskUpdate", Content: `{"id":1}`, Publisher: "12345"},
	}
	var ids []int64
	for _, msg := range msgs {
		ids = append(ids, publish(t, emu, msg))
	}
	waitFor(t, "three confirms", func() bool { return counters(emu).Confirmed == 3 })

	got := rec.messages()
	if len(got) != 3 {
		t.Fatalf("handler got %d messages, want 3", len(got))
	}
	for i, g := range got {
		want := msgs[i]
		publisher := want.Publisher
		if publisher == "" {
			publisher = "4272"
		}
		dataID := ""
		if want.DataID != 0 {
			dataID = "7000000001"
		}
		if g.ID != ids[i] || g.Topic != want.Topic || string(g.Content) != want.Content || g.UserID != want.UserID ||
			g.UserNick != want.UserNick || g.PubAppKey != publisher || g.DataID != dataID || g.Retried != 0 {
			t.Errorf("message %d = %+v, want id %d and %+v", i, g, ids[i], want)
		}
		if g.PubTime.Before(before) || g.OutTime.Before(g.PubTime.Truncate(time.Millisecond)) {
			t.Errorf("message %d times: pub %v out %v", i, g.PubTime, g.OutTime)
		}
	}
	c := counters(emu)
	if c.Delivered != 3 || c.Failed != 0 || c.UnknownConfirms != 0 || c.Pulls == 0 {
		t.Errorf("emulator counters = %+v", c)
	}
	if st := emu.TMCStatus(); len(st.Groups) != 1 || st.Groups[0].Name != "default" || len(st.Groups[0].Connections) != 1 ||
		st.Groups[0].Connections[0].SDK != tmc.DefaultSDK {
		t.Errorf("emulator status = %+v, want one connection of group default from %s", st, tmc.DefaultSDK)
	}
	if err := client.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a second Run while the first runs = %v, want a refusal", err)
	}
	s := m.snapshot()
	if s.received != 3 || s.handled[tmc.OutcomeConfirmed] != 3 || s.connected != 1 {
		t.Errorf("metrics = %+v", s)
	}
	if !slices.Equal(s.states[:2], []tmc.State{tmc.StateConnecting, tmc.StateConnected}) {
		t.Errorf("states = %v", s.states)
	}
	if strings.Contains(logs.String(), topemu.DefaultAppSecret) {
		t.Errorf("the app secret is in the log:\n%s", logs.String())
	}
}

func TestClientConfirmsOnlyAfterTheHandler(t *testing.T) {
	emu, url := emulator(t, topemu.Config{})
	entered := make(chan tmc.Message)
	release := make(chan struct{})
	client, _, _ := run(t, tmc.Config{URL: url}, func(ctx context.Context, m tmc.Message) error {
		entered <- m
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	waitFor(t, "connected", func() bool { return client.State() == tmc.StateConnected })
	id := publish(t, emu, topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: "{}"})
	m := <-entered
	if m.ID != id {
		t.Fatalf("handler got id %d, want %d", m.ID, id)
	}
	// The handler holds the message: the channel must not have a confirm.
	recs, _ := emu.TMCMessages(topemu.TMCFilter{})
	if len(recs) != 1 || recs[0].State != topemu.TMCInFlight {
		t.Fatalf("while the handler runs, records = %+v, want one in flight", recs)
	}
	close(release)
	waitFor(t, "the confirm", func() bool { return counters(emu).Confirmed == 1 })
}

func TestClientFailureIsRedelivered(t *testing.T) {
	emu, url := emulator(t, topemu.Config{})
	rec := &recorder{fail: func(m tmc.Message, n int) error {
		if n == 1 {
			return errors.New("store unavailable")
		}
		return nil
	}}
	_, m, logs := run(t, tmc.Config{URL: url}, rec.handle)
	id := publish(t, emu, topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: "{}"})
	waitFor(t, "the confirm after the redelivery", func() bool { return counters(emu).Confirmed == 1 })

	got := rec.messages()
	if len(got) != 2 || got[0].ID != id || got[1].ID != id || got[0].Retried != 0 || got[1].Retried != 1 {
		t.Fatalf("handler got %+v, want id %d twice, retried 0 then 1", got, id)
	}
	recs, _ := emu.TMCMessages(topemu.TMCFilter{State: topemu.TMCConfirmed})
	if len(recs) != 1 || recs[0].Failures != 1 || recs[0].LastFailure == "" || recs[0].Deliveries != 2 {
		t.Errorf("record = %+v, want 1 failure and 2 deliveries", recs)
	}
	if strings.Contains(recs[0].LastFailure, "store unavailable") {
		t.Errorf("the handler's error text went to the channel: %q", recs[0].LastFailure)
	}
	if s := m.snapshot(); s.handled[tmc.OutcomeFailed] != 1 || s.handled[tmc.OutcomeConfirmed] != 1 {
		t.Errorf("metrics = %+v", s)
	}
	if !strings.Contains(logs.String(), "store unavailable") {
		t.Errorf("the handler's failure is not in the log:\n%s", logs.String())
	}
}

func TestClientReconnectsAfterDrop(t *testing.T) {
	emu, url := emulator(t, topemu.Config{})
	rec := &recorder{}
	client, m, _ := run(t, tmc.Config{URL: url}, rec.handle)
	waitFor(t, "connected", func() bool { return client.State() == tmc.StateConnected })
	if n := emu.DropTMCConnections(); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	waitFor(t, "the second connection", func() bool { return counters(emu).Connects == 2 && client.State() == tmc.StateConnected })
	publish(t, emu, topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: "{}"})
	waitFor(t, "the confirm", func() bool { return counters(emu).Confirmed == 1 })
	s := m.snapshot()
	if s.connected != 2 || len(s.disconnected) != 1 || (s.disconnected[0] != tmc.ReasonError && s.disconnected[0] != tmc.ReasonClosed) {
		t.Errorf("metrics = %+v", s)
	}
	if !slices.Contains(s.states, tmc.StateBackoff) {
		t.Errorf("states %v never went through backoff", s.states)
	}
}

func TestClientUnconfirmedIsRedeliveredAfterADrop(t *testing.T) {
	// The connection drops right after the first delivery, before the
	// client's confirm can reach the channel: the message comes again on
	// the next connection, and the handler sees it twice.
	emu, url := emulator(t, topemu.Config{})
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	rec := &recorder{}
	client, _, _ := run(t, tmc.Config{URL: url}, func(ctx context.Context, m tmc.Message) error {
		err := rec.handle(ctx, m)
		entered <- struct{}{}
		if m.Retried == 0 {
			<-release // hold the confirm until the connection is gone
		}
		return err
	})
	waitFor(t, "connected", func() bool { return client.State() == tmc.StateConnected })
	if err := emu.SetTMCFaults(topemu.TMCFaults{DropAfter: 1}); err != nil {
		t.Fatal(err)
	}
	id := publish(t, emu, topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: "{}"})
	<-entered
	waitFor(t, "the drop", func() bool { return counters(emu).Drops == 1 && counters(emu).Redelivered == 1 })
	close(release)
	waitFor(t, "the confirm on the next connection", func() bool { return counters(emu).Confirmed == 1 })
	got := rec.messages()
	if len(got) != 2 || got[0].ID != id || got[1].ID != id || got[1].Retried != 1 {
		t.Fatalf("handler got %+v, want id %d twice, the second with retried 1", got, id)
	}
}

func TestClientSeesDuplicates(t *testing.T) {
	emu, url := emulator(t, topemu.Config{})
	if err := emu.SetTMCFaults(topemu.TMCFaults{Duplicate: true}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	run(t, tmc.Config{URL: url}, rec.handle)
	id := publish(t, emu, topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: "{}"})
	waitFor(t, "both confirms", func() bool { c := counters(emu); return c.Confirmed == 1 && c.UnknownConfirms == 1 })
	got := rec.messages()
	if len(got) != 2 || got[0].ID != id || got[1].ID != id {
		t.Fatalf("handler got %+v, want id %d twice", got, id)
	}
}

func TestClientTopicFilter(t *testing.T) {
	emu, url := emulator(t, topemu.Config{})
	rec := &recorder{}
	_, m, _ := run(t, tmc.Config{URL: url, Topics: []string{"tmall_fuwu_WorkcardInfo"}}, rec.handle)
	publish(t, emu, topemu.TMCMessage{Topic: "taobao_trade_TradeCreate", Content: "{}"})
	want := publish(t, emu, topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: "{}"})
	waitFor(t, "both confirms", func() bool { return counters(emu).Confirmed == 2 })
	if got := rec.messages(); len(got) != 1 || got[0].ID != want {
		t.Fatalf("handler got %+v, want only id %d", got, want)
	}
	if s := m.snapshot(); s.handled[tmc.OutcomeFiltered] != 1 {
		t.Errorf("metrics = %+v", s)
	}
}

func TestClientSharesAGroup(t *testing.T) {
	// Two clients in one group: each message reaches one of them, once.
	emu, url := emulator(t, topemu.Config{})
	var a, b recorder
	run(t, tmc.Config{URL: url}, a.handle)
	run(t, tmc.Config{URL: url}, b.handle)
	waitFor(t, "two connections", func() bool {
		st := emu.TMCStatus()
		return len(st.Groups) == 1 && len(st.Groups[0].Connections) == 2
	})
	const n = 50
	for range n {
		publish(t, emu, topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: "{}"})
	}
	waitFor(t, "all confirms", func() bool { return counters(emu).Confirmed == n })
	seen := map[int64]int{}
	for _, m := range append(a.messages(), b.messages()...) {
		seen[m.ID]++
	}
	if len(seen) != n {
		t.Fatalf("saw %d distinct messages, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("message %d handled %d times", id, k)
		}
	}
	if c := counters(emu); c.Delivered != n {
		t.Errorf("delivered %d, want %d", c.Delivered, n)
	}
}

func TestClientRejected(t *testing.T) {
	tests := []struct {
		name   string
		emu    topemu.Config
		cfg    tmc.Config
		faults topemu.TMCFaults
	}{
		{"wrong secret", topemu.Config{}, tmc.Config{AppKey: topemu.DefaultAppKey, AppSecret: "not-the-secret"}, topemu.TMCFaults{}},
		{"unknown app key", topemu.Config{}, tmc.Config{AppKey: "someone-else", AppSecret: topemu.DefaultAppSecret}, topemu.TMCFaults{}},
		{"refused by fault", topemu.Config{}, tmc.Config{}, topemu.TMCFaults{RejectConnect: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, url := emulator(t, tt.emu)
			if err := emu.SetTMCFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			cfg := tt.cfg
			cfg.URL = url
			client, m, logs := run(t, cfg, func(context.Context, tmc.Message) error { return nil })
			waitFor(t, "two refusals", func() bool { return counters(emu).ConnectsRejected >= 2 && len(m.snapshot().disconnected) >= 2 })
			s := m.snapshot()
			if s.connected != 0 || len(s.disconnected) < 2 || s.disconnected[0] != tmc.ReasonRejected {
				t.Errorf("metrics = %+v", s)
			}
			if st := client.State(); st == tmc.StateConnected {
				t.Errorf("state = %s", st)
			}
			if !strings.Contains(logs.String(), "CONNECT rejected") {
				t.Errorf("no refusal in the log:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), "not-the-secret") {
				t.Errorf("the secret is in the log")
			}
		})
	}
}

func TestClientDialFailureBacksOff(t *testing.T) {
	// A port nothing listens on: the client stays in its loop, backing off.
	srv := httptest.NewServer(nil)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	srv.Close()
	client, m, _ := run(t, tmc.Config{URL: url}, func(context.Context, tmc.Message) error { return nil })
	waitFor(t, "three dial failures", func() bool { return len(m.snapshot().disconnected) >= 3 })
	if s := m.snapshot(); s.disconnected[0] != tmc.ReasonDial {
		t.Errorf("reasons = %v", s.disconnected)
	}
	if st := client.State(); st != tmc.StateBackoff && st != tmc.StateConnecting {
		t.Errorf("state = %s", st)
	}
}

func TestNewClient(t *testing.T) {
	h := func(context.Context, tmc.Message) error { return nil }
	ok := tmc.Config{URL: "ws://127.0.0.1:1/", AppKey: "k", AppSecret: "s"}
	tests := []struct {
		name    string
		mutate  func(*tmc.Config)
		handler tmc.Handler
		want    string
	}{
		{"ok", func(*tmc.Config) {}, h, ""},
		{"nil handler", func(*tmc.Config) {}, nil, "nil handler"},
		{"no url", func(c *tmc.Config) { c.URL = "" }, h, "no URL"},
		{"bad scheme", func(c *tmc.Config) { c.URL = "ftp://x/" }, h, "scheme"},
		{"no host", func(c *tmc.Config) { c.URL = "ws:///" }, h, "no host"},
		{"no key", func(c *tmc.Config) { c.AppKey = "" }, h, "app key"},
		{"no secret", func(c *tmc.Config) { c.AppSecret = "" }, h, "app key and app secret"},
		{"negative interval", func(c *tmc.Config) { c.PullInterval = -1 }, h, "negative"},
		{"empty topic", func(c *tmc.Config) { c.Topics = []string{"a", ""} }, h, "empty topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			c, err := tmc.NewClient(cfg, tt.handler)
			if tt.want == "" {
				if err != nil || c == nil || c.State() != tmc.StateIdle {
					t.Fatalf("NewClient = %v, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewClient error = %v, want one mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s\"") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestClientHandshakeFailures(t *testing.T) {
	// Servers that accept the WebSocket but never complete the handshake
	// (each answers the CONNECT this way, then only reads):
	// the client gives up on each connection and tries again.
	tests := []struct {
		name   string
		answer func(ctx context.Context, ws *websocket.Conn)
	}{
		{"silent", func(context.Context, *websocket.Conn) {}},
		{"ack without a token", func(ctx context.Context, ws *websocket.Conn) {
			ack := frame.Frame{Type: frame.ConnectAck, Flag: 1}
			_ = ws.Write(ctx, websocket.MessageBinary, ack.Encode())
		}},
		{"not a TMC frame", func(ctx context.Context, ws *websocket.Conn) {
			_ = ws.Write(ctx, websocket.MessageText, []byte("hello"))
			_ = ws.Write(ctx, websocket.MessageBinary, []byte{9, 9, 9})
		}},
		{"data before the ack", func(ctx context.Context, ws *websocket.Conn) {
			f := frame.Frame{Type: frame.Send}
			f.Add(frame.HeaderKind, frame.Byte(int8(frame.KindData)))
			_ = ws.Write(ctx, websocket.MessageBinary, f.Encode())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer ws.CloseNow()
				tt.answer(r.Context(), ws)
				for { // read (and drop) until the client goes
					if _, _, err := ws.Read(r.Context()); err != nil {
						return
					}
				}
			}))
			t.Cleanup(srv.Close)
			_, m, _ := run(t, tmc.Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/", HandshakeTimeout: 100 * time.Millisecond},
				func(context.Context, tmc.Message) error { return nil })
			waitFor(t, "two failed handshakes", func() bool { return len(m.snapshot().disconnected) >= 2 })
			s := m.snapshot()
			if s.connected != 0 || s.disconnected[0] != tmc.ReasonHandshake {
				t.Errorf("metrics = %+v", s)
			}
		})
	}
}
