package topemu

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/servicecenterd/servicecenterd/internal/tmc/frame"
)

// TMC endpoint: the Taobao Message Channel over WebSocket on "/", the path
// the real service uses (ws://mc.api.taobao.com/). docs/tmc.md describes
// the protocol and the choices made here.

// The CONNECT failures' status codes. The real service's codes are not
// documented; clients only check "code > 0" (docs/tmc.md).
const (
	tmcCodeBadRequest   = 400 // not a CONNECT, or a parameter missing
	tmcCodeBadSign      = 401 // the sign does not match
	tmcCodeUnknownApp   = 403 // app_key is not the emulator's
	tmcCodeStaleRequest = 408 // timestamp outside the window
	tmcCodeRejected     = 503 // the reject_connect fault
)

// tmcTimestampWindow is how far a CONNECT's timestamp may be from the
// emulator's clock: TOP's window for its HTTP calls.
const tmcTimestampWindow = 10 * time.Minute

// tmcHandshakeTimeout bounds the wait for the CONNECT (the Java SDK waits
// 5 s for its ack).
const tmcHandshakeTimeout = 10 * time.Second

// tmcMaxFrame bounds one received frame: clients send small control frames.
const tmcMaxFrame = 1 << 20

// tmcConn is one open TMC connection. The counters are guarded by the
// hub's mutex, pings are atomic.
type tmcConn struct {
	id          int64
	group       string
	token       string
	remote      string
	sdk         string
	version     uint8
	connectedAt time.Time
	ws          *websocket.Conn

	inflight                     int
	delivered, confirmed, failed int64
	pulls                        int64
	pings, serverPings           atomic.Int64
}

// serveTMC accepts a TMC WebSocket on "/"; any other request on "/" gets a
// hint.
func (e *Emulator) serveTMC(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeJSON(w, http.StatusUpgradeRequired, map[string]any{
			"error":        "this is the emulator's TMC endpoint: open a WebSocket here (ws://" + r.Host + "/)",
			"top_endpoint": "/router/rest",
			"admin":        "/_emulator/",
		})
		return
	}
	conn := &tmcConn{remote: r.RemoteAddr}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		CompressionMode: websocket.CompressionDisabled,
		OnPingReceived: func(context.Context, []byte) bool {
			conn.pings.Add(1)
			return true
		},
	})
	if err != nil {
		e.log.Debug("tmc upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	conn.ws = ws
	defer ws.CloseNow() //nolint:errcheck // the connection ends here either way.
	ws.SetReadLimit(tmcMaxFrame)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-e.closed:
			ws.Close(websocket.StatusGoingAway, "emulator closing") //nolint:errcheck // best effort.
			cancel()
		case <-ctx.Done():
		}
	}()

	ack, err := e.tmcHandshake(ctx, conn)
	if err != nil {
		e.log.Info("tmc connect refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	// Attached (and counted) before its CONNECTACK goes out: a client that
	// holds the ack is in the hub's status.
	e.tmc.attach(conn)
	defer e.tmc.detach(conn)
	if err := e.tmcWriteAck(ctx, conn, ack); err != nil {
		e.log.Info("tmc connect failed", "connection", conn.id, "remote", r.RemoteAddr, "err", err)
		return
	}
	e.log.Info("tmc connected", "connection", conn.id, "group", conn.group, "remote", conn.remote, "sdk", conn.sdk)

	sent := make(chan struct{})
	go func() {
		defer close(sent)
		e.tmcSend(ctx, cancel, conn)
	}()
	go e.tmcPing(ctx, conn)
	err = e.tmcRead(ctx, conn)
	cancel()
	// Only once the sender has stopped can detach requeue everything the
	// connection held: none may be marked in flight after it.
	<-sent
	e.log.Info("tmc disconnected", "connection", conn.id, "group", conn.group, "err", err)
}

// tmcHandshake reads the CONNECT and checks it: it answers a refusal
// itself and returns the CONNECTACK of an accepted one, for
// tmcWriteAck.
func (e *Emulator) tmcHandshake(ctx context.Context, c *tmcConn) (frame.Frame, error) {
	hctx, cancel := context.WithTimeout(ctx, tmcHandshakeTimeout)
	defer cancel()
	var f frame.Frame
	for {
		typ, b, err := c.ws.Read(hctx)
		if err != nil {
			return frame.Frame{}, fmt.Errorf("read CONNECT: %w", err)
		}
		if typ != websocket.MessageBinary {
			continue
		}
		if f, err = frame.Decode(b); err != nil {
			c.ws.Close(websocket.StatusUnsupportedData, "not a TMC frame") //nolint:errcheck // best effort.
			return frame.Frame{}, err
		}
		break
	}
	ack := frame.Frame{Version: f.Version, Type: frame.ConnectAck, Flag: f.Flag}
	code, phrase := e.checkConnect(&f, c)
	if code != 0 {
		e.tmc.count(func(n *TMCCounters) { n.ConnectsRejected++ })
		ack.StatusCode, ack.StatusPhrase = code, phrase
		if err := c.ws.Write(hctx, websocket.MessageBinary, ack.Encode()); err == nil {
			c.ws.Close(websocket.StatusPolicyViolation, "connect refused") //nolint:errcheck // best effort.
		}
		return frame.Frame{}, fmt.Errorf("code %d: %s", code, phrase)
	}
	c.token = newUUID()
	c.version = f.Version
	c.connectedAt = e.now()
	ack.Token = c.token
	return ack, nil
}

// tmcWriteAck sends an accepted connection its CONNECTACK, within the
// handshake's timeout.
func (e *Emulator) tmcWriteAck(ctx context.Context, c *tmcConn, ack frame.Frame) error {
	wctx, cancel := context.WithTimeout(ctx, tmcHandshakeTimeout)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageBinary, ack.Encode()); err != nil {
		return fmt.Errorf("write CONNECTACK: %w", err)
	}
	return nil
}

// checkConnect checks a CONNECT; it returns 0 or the error's code and text.
func (e *Emulator) checkConnect(f *frame.Frame, c *tmcConn) (int32, string) {
	if f.Type != frame.Connect {
		return tmcCodeBadRequest, "expected CONNECT, got " + f.Type.String()
	}
	text := func(name string) string {
		v, _ := f.Get(name)
		s, _ := v.Text()
		return s
	}
	appKey, group, ts, sign := text(frame.HeaderAppKey), text(frame.HeaderGroupName), text(frame.HeaderTimestamp), text(frame.HeaderSign)
	c.sdk = text(frame.HeaderSDK)
	if group == "" {
		group = DefaultTMCGroup
	}
	c.group = group
	switch {
	case e.tmc.getFaults().RejectConnect:
		return tmcCodeRejected, "connect rejected (emulator fault reject_connect)"
	case appKey == "" || ts == "" || sign == "":
		return tmcCodeBadRequest, "app_key, timestamp and sign are required"
	case appKey != e.cfg.AppKey:
		return tmcCodeUnknownApp, "unknown app_key"
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return tmcCodeBadRequest, "timestamp must be milliseconds since the epoch"
	}
	if d := e.now().Sub(time.UnixMilli(ms)); d > tmcTimestampWindow || d < -tmcTimestampWindow {
		return tmcCodeStaleRequest, "timestamp is more than 10 minutes from the server's clock"
	}
	// The sign covers the group as sent (an absent group is skipped).
	if !frame.VerifySign(sign, e.cfg.AppSecret, appKey, text(frame.HeaderGroupName), ts) {
		return tmcCodeBadSign, "invalid sign"
	}
	return 0, ""
}

// tmcRead handles what the client sends: pulls, confirms, failures and
// publishes. Pings are answered by the WebSocket library.
func (e *Emulator) tmcRead(ctx context.Context, c *tmcConn) error {
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageBinary {
			continue
		}
		f, err := frame.Decode(b)
		if err != nil {
			c.ws.Close(websocket.StatusUnsupportedData, "not a TMC frame") //nolint:errcheck // best effort.
			return err
		}
		if f.Type != frame.Send && f.Type != frame.SendAck {
			continue
		}
		if f.Token != c.token {
			e.log.Debug("tmc frame with an unknown token ignored", "connection", c.id)
			continue
		}
		kind, _ := f.Kind()
		switch kind {
		case frame.KindPull:
			e.tmc.pulled(c)
		case frame.KindConfirm, frame.KindFailed:
			v, _ := f.Get(frame.HeaderID)
			id, ok := v.Integer()
			if !ok {
				continue
			}
			if kind == frame.KindConfirm {
				e.tmc.confirm(c, id)
			} else {
				reason, _ := f.Get(frame.HeaderMsg)
				msg, _ := reason.Text()
				e.tmc.fail(c, id, clip(msg, 128))
			}
		case frame.KindData:
			// A publish to Taobao: acknowledged, not delivered anywhere.
			ack := frame.Frame{Version: c.version, Type: frame.SendAck, Flag: f.Flag, Token: c.token}
			if err := c.ws.Write(ctx, websocket.MessageBinary, ack.Encode()); err != nil {
				return err
			}
		}
	}
}

// tmcSend delivers the group's messages to c, as the hub hands them out.
func (e *Emulator) tmcSend(ctx context.Context, cancel context.CancelFunc, c *tmcConn) {
	defer cancel()
	for {
		rec, dup, drop, err := e.tmc.next(ctx.Done(), c)
		if err != nil {
			return
		}
		f := frame.Frame{Version: c.version, Type: frame.Send, Token: c.token}
		f.Add(frame.HeaderKind, frame.Byte(int8(frame.KindData)))
		f.Add(frame.HeaderID, frame.Int64(rec.ID))
		f.Add(frame.HeaderTopic, frame.Str(rec.Topic))
		f.Add(frame.HeaderPublisher, frame.Str(rec.Publisher))
		if rec.UserID != 0 {
			f.Add(frame.HeaderUserID, frame.Int64(rec.UserID))
		}
		if rec.UserNick != "" {
			f.Add(frame.HeaderNick, frame.Str(rec.UserNick))
		}
		f.Add(frame.HeaderTime, frame.Date(rec.Published))
		f.Add(frame.HeaderOutTime, frame.Date(e.now()))
		if rec.DataID != 0 {
			f.Add(frame.HeaderDataID, frame.Int64(rec.DataID))
		}
		f.Add(frame.HeaderRetried, frame.Byte(int8(min(rec.Retried, 127))))
		f.Add(frame.HeaderContent, frame.Str(rec.Content))
		b := f.Encode()
		for range 1 + boolInt(dup) {
			if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
				return
			}
		}
		if drop {
			e.log.Info("tmc connection dropped (emulator fault drop_after)", "connection", c.id)
			e.tmc.count(func(n *TMCCounters) { n.Drops++ })
			c.ws.CloseNow() //nolint:errcheck // the fault.
			return
		}
	}
}

// tmcPing pings c every ping interval (re-read each time, so a settings
// change applies) until ctx ends; a ping not answered within the interval
// drops the connection.
func (e *Emulator) tmcPing(ctx context.Context, c *tmcConn) {
	for {
		d := time.Duration(e.tmc.getSettings().PingInterval)
		if d <= 0 {
			d = time.Second // pings off: look again later
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if e.tmc.getSettings().PingInterval <= 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, d)
		err := c.ws.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.log.Info("tmc connection dropped: no pong", "connection", c.id, "err", err)
			e.tmc.count(func(n *TMCCounters) { n.PingTimeouts++ })
			c.ws.CloseNow() //nolint:errcheck // the connection is dead.
			return
		}
		c.serverPings.Add(1)
	}
}

// DropTMCConnections closes every open TMC connection without a close
// handshake, as a network failure would; it returns how many it closed.
func (e *Emulator) DropTMCConnections() int {
	conns := e.tmc.connections()
	for _, c := range conns {
		c.ws.CloseNow() //nolint:errcheck // the fault.
	}
	e.tmc.count(func(n *TMCCounters) { n.Drops += int64(len(conns)) })
	if len(conns) > 0 {
		e.log.Info("tmc connections dropped over the admin API", "connections", len(conns))
	}
	return len(conns)
}

// PublishTMC queues a message on the emulator's channel and returns its id.
func (e *Emulator) PublishTMC(m TMCMessage) (int64, error) {
	id, err := e.tmc.publish(m)
	if err == nil {
		e.log.Debug("tmc message published", "id", id, "topic", m.Topic, "group", m.Group)
	}
	return id, err
}

// TMCStatus returns the TMC endpoint's groups, connections and counters.
func (e *Emulator) TMCStatus() TMCStatus { return e.tmc.status() }

// TMCMessages lists the TMC messages that match f, newest first.
func (e *Emulator) TMCMessages(f TMCFilter) ([]TMCMessageRecord, error) { return e.tmc.messages(f) }

// SetTMCFaults replaces the TMC faults.
func (e *Emulator) SetTMCFaults(f TMCFaults) error {
	if err := f.validate(); err != nil {
		return err
	}
	e.tmc.setFaults(f)
	return nil
}

// SetTMCSettings replaces the TMC delivery settings.
func (e *Emulator) SetTMCSettings(s TMCSettings) error {
	if err := s.validate(); err != nil {
		return err
	}
	e.tmc.setSettings(s)
	return nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, v := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[v>>4], hex[v&0x0f])
	}
	return string(out)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
