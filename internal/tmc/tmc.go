// Package tmc is servicecenterd's consumer of the Taobao Message Channel
// (TMC): a WebSocket client that connects with the signed handshake, pulls,
// receives data messages, hands each one to a Handler and confirms it only
// after the Handler returned nil (reporting a failure otherwise), keeps the
// connection alive and reconnects with backoff. The wire format (frames,
// the sign) lives in internal/tmc/frame, shared with the emulator's TMC
// endpoint (internal/topemu). The WebSocket itself is
// github.com/coder/websocket; this package adds the TMC protocol on top.
//
// docs/tmc.md describes the protocol and the choices made where the
// sources disagree.
package tmc

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
)

// Message is one data message the channel delivered (docs/tmc.md).
type Message struct {
	// ID is the outgoing message id: Confirm and Fail quote it, and it is
	// the key to deduplicate by (the channel redelivers and may deliver
	// twice).
	ID int64
	// Topic is the message's topic, e.g. tmall_fuwu_WorkcardInfo.
	Topic string
	// Content is the raw payload, normally JSON; gunzipped when the frame
	// carried it as a gzip byte array.
	Content []byte
	// PubTime is the publish time (`time`).
	PubTime time.Time
	// PubAppKey is the publisher's app key (`publisher`).
	PubAppKey string
	// UserID is the user (seller) id (`userid`); 0 when absent.
	UserID int64
	// UserNick is the user's nick (`nick`).
	UserNick string
	// DataID is the business data id (`dataid`) as text; "" when absent.
	DataID string
	// OutTime is when the channel sent the message (`outtime`).
	OutTime time.Time
	// Retried is the redelivery counter (`retried`): 0 on first delivery.
	Retried int
}

// Handler stores a message durably. When it returns nil the client
// confirms the message; when it returns an error the client reports a
// failure for it and the channel redelivers it later. It is called from
// one goroutine per connection, in the order the messages arrived; the
// context ends when the connection does (or the client stops).
type Handler func(ctx context.Context, m Message) error

// State is the client's connection state, for health and metrics.
type State int

// The connection states.
const (
	// StateIdle: Run has not started yet, or has returned.
	StateIdle State = iota
	// StateConnecting: dialling the WebSocket and waiting for CONNECTACK.
	StateConnecting
	// StateConnected: the handshake succeeded; messages flow.
	StateConnected
	// StateBackoff: the last connection failed or ended; waiting before
	// the next attempt.
	StateBackoff
)

// String is the state's name as used in logs and metric labels.
func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateBackoff:
		return "backoff"
	default:
		return "unknown"
	}
}

// States lists every state, for metrics that export one series per state.
var States = []State{StateIdle, StateConnecting, StateConnected, StateBackoff}

// Outcome is what became of one delivered message, for metrics.
type Outcome string

// The outcomes of a delivered message.
const (
	// OutcomeConfirmed: the Handler returned nil and the confirm was sent.
	OutcomeConfirmed Outcome = "confirmed"
	// OutcomeFailed: the Handler returned an error and a failure report
	// was sent; the channel redelivers the message later.
	OutcomeFailed Outcome = "failed"
	// OutcomeFiltered: the topic is outside Config.Topics; the message
	// was confirmed without reaching the Handler.
	OutcomeFiltered Outcome = "filtered"
	// OutcomeUndeliverable: the connection ended before the outcome could
	// be sent; the channel redelivers the message.
	OutcomeUndeliverable Outcome = "undeliverable"
)

// Metrics receives the client's events; internal/metrics implements it
// with the servicecenterd_tmc_* series. Every method must be safe for
// concurrent use and fast. Topics are the channel's topic names, a set
// fixed by the app's subscriptions, never request or personal data.
type Metrics interface {
	// StateChanged reports the client's new connection state.
	StateChanged(s State)
	// Connected reports a successful handshake; Disconnected one
	// connection's end, with a short fixed reason ("closed", "error",
	// "rejected", "handshake", "stopped").
	Connected()
	Disconnected(reason string)
	// Received reports a data message as it arrives, with its lag (now
	// minus its publish time; 0 when the message has none).
	Received(topic string, lag time.Duration)
	// Handled reports the message's outcome and the Handler's duration.
	Handled(topic string, o Outcome, d time.Duration)
}

// Config configures a Client.
type Config struct {
	// URL is the channel's WebSocket address, e.g. ws://mc.api.taobao.com/
	// (required).
	URL string
	// AppKey and AppSecret are the app's credentials (required). The secret
	// only signs the handshake; it never leaves the process otherwise.
	AppKey    string
	AppSecret string
	// Group is the message group; "" means "default".
	Group string
	// Topics filters messages on the client side: a message whose topic is
	// not listed is confirmed without reaching the Handler. Empty means all.
	Topics []string
	// Logger receives one line per state change; nil discards.
	Logger *slog.Logger
	// Metrics receives the client's events; nil discards.
	Metrics Metrics
	// Backoff spaces reconnect attempts; the zero value means 1s doubling
	// to 1m with equal jitter. A connection that was up for longer than
	// its Max resets the attempt count.
	Backoff backoff.Policy
	// PullInterval is how often the client sends a pull request while
	// connected; 0 means 5s (the JS SDK's period).
	PullInterval time.Duration
	// PingInterval is how often the client pings the server, and the
	// ping's timeout; 0 means 30s.
	PingInterval time.Duration
	// HandshakeTimeout bounds dialling plus the CONNECTACK, and each
	// write; 0 means 10s.
	HandshakeTimeout time.Duration
	// SDK is the `sdk` header of the CONNECT; "" means
	// "servicecenterd-tmc".
	SDK string
	// HTTPClient dials the WebSocket; nil means http.DefaultClient.
	HTTPClient *http.Client
	// MaxMessageBytes bounds one received frame and one gunzipped content;
	// 0 means 16 MiB.
	MaxMessageBytes int64
}
