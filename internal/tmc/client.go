package tmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
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
// backoff, until ctx ends; then it closes the connection and returns nil.
// It returns an error only for a problem no reconnect can cure.
func (c *Client) Run(ctx context.Context) error {
	return errors.New("tmc: client not implemented yet")
}

type nopMetrics struct{}

func (nopMetrics) StateChanged(State)                     {}
func (nopMetrics) Connected()                             {}
func (nopMetrics) Disconnected(string)                    {}
func (nopMetrics) Received(string, time.Duration)         {}
func (nopMetrics) Handled(string, Outcome, time.Duration) {}
