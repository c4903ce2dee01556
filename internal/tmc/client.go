package tmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
	"github.com/servicecenterd/servicecenterd/internal/tmc/frame"
)

// Defaults of Config's zero values.
const (
	DefaultGroup            = "default"
	DefaultPullInterval     = 5 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultSDK              = "servicecenterd-tmc"
	DefaultMaxMessageBytes  = 16 << 20
)

// DefaultBackoff is the reconnect backoff of a zero Config.Backoff.
var DefaultBackoff = backoff.Policy{Base: time.Second, Max: time.Minute, Jitter: backoff.Equal}

// Client is one TMC consumer connection, kept up by Run.
type Client struct {
	cfg     Config
	handler Handler
	topics  map[string]bool
	log     *slog.Logger
	metrics Metrics
	state   atomic.Int32
	running atomic.Bool
}

// NewClient checks cfg, fills its defaults and returns a client that
// hands messages to h. It does not connect: Run does.
func NewClient(cfg Config, h Handler) (*Client, error) {
	if h == nil {
		return nil, errors.New("tmc: nil handler")
	}
	if cfg.URL == "" {
		return nil, errors.New("tmc: no URL")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("tmc: URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("tmc: URL %q: scheme must be ws or wss", cfg.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("tmc: URL %q has no host", cfg.URL)
	}
	if cfg.AppKey == "" || cfg.AppSecret == "" {
		return nil, errors.New("tmc: app key and app secret are required")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.PullInterval < 0 || cfg.PingInterval < 0 || cfg.HandshakeTimeout < 0 || cfg.MaxMessageBytes < 0 {
		return nil, errors.New("tmc: negative interval, timeout or size")
	}
	if cfg.PullInterval == 0 {
		cfg.PullInterval = DefaultPullInterval
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.SDK == "" {
		cfg.SDK = DefaultSDK
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.Backoff.Base <= 0 || cfg.Backoff.Max <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	c := &Client{cfg: cfg, handler: h, log: cfg.Logger, metrics: cfg.Metrics}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.metrics == nil {
		c.metrics = nopMetrics{}
	}
	if len(cfg.Topics) > 0 {
		c.topics = make(map[string]bool, len(cfg.Topics))
		for _, t := range cfg.Topics {
			if t == "" {
				return nil, errors.New("tmc: empty topic in the topic filter")
			}
			c.topics[t] = true
		}
	}
	return c, nil
}

// State is the client's connection state now.
func (c *Client) State() State { return State(c.state.Load()) }

// Run connects, pulls and hands messages to the Handler, reconnecting with
// backoff, until ctx ends; then it closes the connection (close code 1000)
// and returns nil. Messages the Handler has not finished when the
// connection ends are neither confirmed nor failed: the channel redelivers
// them.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("tmc: Run called twice")
	}
	defer c.running.Store(false)
	defer c.setState(StateIdle)
	var flag int32
	attempt := 0
	for ctx.Err() == nil {
		// The CONNECT's Flag counts the connections, as the Java SDK's does.
		flag = flag%math.MaxInt32 + 1
		c.setState(StateConnecting)
		c.log.Info("tmc connecting", "url", c.cfg.URL, "group", c.cfg.Group, "attempt", attempt+1)
		up, err := c.session(ctx, flag)
		if ctx.Err() != nil {
			c.metrics.Disconnected(ReasonStopped)
			c.log.Info("tmc stopped", "group", c.cfg.Group)
			return nil
		}
		var ce *connError
		reason := ReasonError
		if errors.As(err, &ce) {
			reason = ce.reason
		}
		c.metrics.Disconnected(reason)
		if up >= c.cfg.Backoff.Max {
			attempt = 0
		}
		attempt++
		delay := c.cfg.Backoff.Delay(attempt)
		c.setState(StateBackoff)
		c.log.Warn("tmc disconnected; reconnecting after a delay", "group", c.cfg.Group,
			"reason", reason, "err", err, "connected_for", up.Round(time.Millisecond),
			"delay", delay.Round(time.Millisecond), "attempt", attempt)
		if backoff.Wait(ctx, delay) != nil {
			break
		}
	}
	c.log.Info("tmc stopped", "group", c.cfg.Group)
	return nil
}

// The reasons Metrics.Disconnected reports.
const (
	// ReasonDial: the WebSocket could not be opened.
	ReasonDial = "dial"
	// ReasonHandshake: the CONNECT got no usable CONNECTACK in time.
	ReasonHandshake = "handshake"
	// ReasonRejected: the server refused the CONNECT (bad sign, unknown
	// app key, ...).
	ReasonRejected = "rejected"
	// ReasonClosed: the server closed the connection.
	ReasonClosed = "closed"
	// ReasonError: the connection failed (read, write or ping).
	ReasonError = "error"
	// ReasonStopped: Run's context ended.
	ReasonStopped = "stopped"
)

// connError is why one connection ended, with its metric reason.
type connError struct {
	reason string
	err    error
}

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

func (c *Client) setState(s State) {
	if State(c.state.Swap(int32(s))) != s {
		c.metrics.StateChanged(s)
	}
}

// session runs one connection: dial, handshake, then serve until the
// connection or ctx ends. It returns how long the connection was up.
func (c *Client) session(ctx context.Context, flag int32) (time.Duration, error) {
	// The dial's context lives as long as the connection (cancelling it
	// early could take the upgraded connection down with it); a timer
	// bounds the dial and the handshake.
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := time.AfterFunc(c.cfg.HandshakeTimeout, cancel)
	conn, _, err := websocket.Dial(dctx, c.cfg.URL, &websocket.DialOptions{
		HTTPClient:      c.cfg.HTTPClient,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		timer.Stop()
		return 0, &connError{ReasonDial, fmt.Errorf("dial %s: %w", c.cfg.URL, err)}
	}
	defer conn.CloseNow() //nolint:errcheck // the connection is done either way.
	conn.SetReadLimit(c.cfg.MaxMessageBytes)
	token, err := c.handshake(dctx, conn, flag)
	if !timer.Stop() && ctx.Err() == nil {
		err = &connError{ReasonHandshake, fmt.Errorf("no CONNECTACK within %s", c.cfg.HandshakeTimeout)}
	}
	if err != nil {
		return 0, err
	}
	c.setState(StateConnected)
	c.metrics.Connected()
	c.log.Info("tmc connected", "url", c.cfg.URL, "group", c.cfg.Group)
	start := time.Now()
	err = c.serve(ctx, conn, token)
	return time.Since(start), err
}

// handshake sends the signed CONNECT and waits for the CONNECTACK; it
// returns the connection token.
func (c *Client) handshake(ctx context.Context, conn *websocket.Conn, flag int32) (string, error) {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	f := frame.Frame{Type: frame.Connect, Flag: flag}
	f.Add(frame.HeaderAppKey, frame.Str(c.cfg.AppKey))
	f.Add(frame.HeaderGroupName, frame.Str(c.cfg.Group))
	f.Add(frame.HeaderTimestamp, frame.Str(ts))
	f.Add(frame.HeaderSign, frame.Str(frame.Sign(c.cfg.AppSecret, c.cfg.AppKey, c.cfg.Group, ts)))
	f.Add(frame.HeaderSDK, frame.Str(c.cfg.SDK))
	if err := conn.Write(ctx, websocket.MessageBinary, f.Encode()); err != nil {
		return "", &connError{ReasonHandshake, fmt.Errorf("send CONNECT: %w", err)}
	}
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			return "", &connError{ReasonHandshake, fmt.Errorf("read CONNECTACK: %w", err)}
		}
		if typ != websocket.MessageBinary {
			continue // TMC is binary only; the JS SDK drops text frames too.
		}
		ack, err := frame.Decode(b)
		if err != nil {
			return "", &connError{ReasonHandshake, fmt.Errorf("read CONNECTACK: %w", err)}
		}
		if ack.Type != frame.ConnectAck {
			return "", &connError{ReasonHandshake, fmt.Errorf("got %s before CONNECTACK", ack.Type)}
		}
		if ack.StatusCode > 0 || ack.StatusPhrase != "" {
			return "", &connError{ReasonRejected, fmt.Errorf("CONNECT rejected: code %d: %q", ack.StatusCode, ack.StatusPhrase)}
		}
		if ack.Token == "" {
			return "", &connError{ReasonHandshake, errors.New("CONNECTACK without a token")}
		}
		return ack.Token, nil
	}
}

// serve runs a connection after its handshake: a reader queues the data
// messages, a keeper sends pulls and pings, and this goroutine hands the
// messages to the Handler in order and confirms or fails each.
func (c *Client) serve(ctx context.Context, conn *websocket.Conn, token string) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	q := newQueue()
	var wg sync.WaitGroup
	wg.Go(func() { cancel(c.read(conn, token, q)) })
	wg.Go(func() { cancel(c.keepalive(sctx, conn, token)) })
	for {
		it, ok := q.pop(sctx)
		if !ok {
			break
		}
		if err := c.deliver(sctx, conn, token, it); err != nil {
			cancel(err)
			break
		}
	}
	err := context.Cause(sctx)
	if ctx.Err() != nil {
		conn.Close(websocket.StatusNormalClosure, "client stopping") //nolint:errcheck // best effort.
	} else {
		conn.CloseNow() //nolint:errcheck // the connection failed already.
	}
	wg.Wait()
	if n := q.drop(); n > 0 {
		c.log.Info("tmc connection ended with messages not handled; the channel redelivers them", "group", c.cfg.Group, "messages", n)
	}
	return err
}

// read reads frames until the connection ends, queueing data messages.
func (c *Client) read(conn *websocket.Conn, token string, q *queue) error {
	for {
		typ, b, err := conn.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) != -1 {
				return &connError{ReasonClosed, fmt.Errorf("server closed the connection: %w", err)}
			}
			return &connError{ReasonError, fmt.Errorf("read: %w", err)}
		}
		if typ != websocket.MessageBinary {
			continue
		}
		f, err := frame.Decode(b)
		if err != nil {
			// Not a TMC frame: the stream cannot be trusted any more.
			return &connError{ReasonError, fmt.Errorf("read: %w", err)}
		}
		if f.Type != frame.Send {
			// A SENDACK (e.g. to a pull) carries nothing for a consumer.
			if f.StatusCode > 0 || f.StatusPhrase != "" {
				c.log.Warn("tmc server reported an error", "type", f.Type, "code", f.StatusCode, "phrase", f.StatusPhrase)
			}
			continue
		}
		if kind, _ := f.Kind(); kind != frame.KindData {
			continue
		}
		if f.Token != token {
			// The Java SDK throws on a message whose token it does not
			// know; it is not ours to confirm.
			c.log.Warn("tmc data message with a foreign token ignored", "group", c.cfg.Group)
			continue
		}
		m, err := messageOf(&f, c.cfg.MaxMessageBytes)
		if errors.Is(err, errNoID) {
			c.log.Warn("tmc data message without an id ignored", "group", c.cfg.Group, "topic", m.Topic)
			continue
		}
		lag := time.Duration(0)
		if !m.PubTime.IsZero() {
			lag = max(time.Since(m.PubTime), 0)
		}
		c.metrics.Received(m.Topic, lag)
		q.push(item{msg: m, err: err})
	}
}

// keepalive sends a pull at once and then every PullInterval, and pings
// every PingInterval, until ctx ends or a ping goes unanswered.
func (c *Client) keepalive(ctx context.Context, conn *websocket.Conn, token string) error {
	pull := frame.Frame{Type: frame.Send, Token: token}
	pull.Add(frame.HeaderKind, frame.Byte(int8(frame.KindPull)))
	pullWire := pull.Encode()
	pulls := time.NewTicker(c.cfg.PullInterval)
	defer pulls.Stop()
	pings := time.NewTicker(c.cfg.PingInterval)
	defer pings.Stop()
	sendPull := func() error {
		if err := c.write(ctx, conn, pullWire); err != nil && ctx.Err() == nil {
			return &connError{ReasonError, fmt.Errorf("send pull request: %w", err)}
		}
		return nil
	}
	if err := sendPull(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-pulls.C:
			if err := sendPull(); err != nil {
				return err
			}
		case <-pings.C:
			pctx, cancel := context.WithTimeout(ctx, c.cfg.PingInterval)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return &connError{ReasonError, fmt.Errorf("ping: %w", err)}
			}
		}
	}
}

// deliver hands one message to the Handler (or filters it) and sends the
// confirm or the failure. It returns an error only when the connection
// failed.
func (c *Client) deliver(ctx context.Context, conn *websocket.Conn, token string, it item) error {
	m := it.msg
	start := time.Now()
	outcome := OutcomeConfirmed
	reason := ""
	switch {
	case it.err != nil:
		outcome, reason = OutcomeFailed, "undecodable message"
		c.log.Error("tmc message cannot be decoded; reported as failed", "id", m.ID, "topic", m.Topic, "err", it.err)
	case c.topics != nil && !c.topics[m.Topic]:
		outcome = OutcomeFiltered
	default:
		if err := c.handler(ctx, m); err != nil {
			if ctx.Err() != nil {
				c.metrics.Handled(m.Topic, OutcomeUndeliverable, time.Since(start))
				return nil
			}
			outcome, reason = OutcomeFailed, "consumer could not store the message"
			c.log.Warn("tmc handler failed; reported as failed, the channel redelivers it",
				"id", m.ID, "topic", m.Topic, "retried", m.Retried, "err", err)
		}
	}
	handled := time.Since(start)
	f := frame.Frame{Type: frame.Send, Token: token}
	if outcome == OutcomeFailed {
		f.Add(frame.HeaderKind, frame.Byte(int8(frame.KindFailed)))
		f.Add(frame.HeaderID, frame.Int64(m.ID))
		f.Add(frame.HeaderMsg, frame.Str(reason))
	} else {
		f.Add(frame.HeaderKind, frame.Byte(int8(frame.KindConfirm)))
		f.Add(frame.HeaderID, frame.Int64(m.ID))
	}
	if err := c.write(ctx, conn, f.Encode()); err != nil {
		c.metrics.Handled(m.Topic, OutcomeUndeliverable, handled)
		if ctx.Err() != nil {
			return nil
		}
		return &connError{ReasonError, fmt.Errorf("send %s for message %d: %w", outcome, m.ID, err)}
	}
	c.metrics.Handled(m.Topic, outcome, handled)
	return nil
}

// write sends one frame, bounded by the handshake timeout.
func (c *Client) write(ctx context.Context, conn *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	return conn.Write(wctx, websocket.MessageBinary, b)
}

type nopMetrics struct{}

func (nopMetrics) StateChanged(State)                     {}
func (nopMetrics) Connected()                             {}
func (nopMetrics) Disconnected(string)                    {}
func (nopMetrics) Received(string, time.Duration)         {}
func (nopMetrics) Handled(string, Outcome, time.Duration) {}
