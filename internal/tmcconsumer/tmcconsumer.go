// Package tmcconsumer makes servicecenterd the app's consumer of TOP's
// message channel (TMC): its settings (--tmc-url, --tmc-group,
// --tmc-topics), and the pipeline that runs an internal/tmc client whose
// Handler appends each message to the event log (internal/events) before
// the client confirms it. A message the store cannot take is reported
// failed, so the channel redelivers it; a message stored before (a
// redelivery, or one another replica stored) is confirmed again without
// a second copy. The client, the frames and the reconnects are
// internal/tmc's; this package only joins them to the log.
package tmcconsumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/servicecenterd/servicecenterd/internal/events"
	"github.com/servicecenterd/servicecenterd/internal/tmc"
)

// The channel's addresses (tmc-protocol.md §1).
const (
	ProductionURL = "ws://mc.api.taobao.com/"
	SandboxURL    = "ws://mc.api.tbsandbox.com/"
)

// Off is the --tmc-url value that turns the consumer off.
const Off = "off"

// Settings are the consumer's settings of `servicecenterd serve`: flags,
// SERVICECENTERD_* variables and YAML keys (internal/config).
type Settings struct {
	URL    string   `flag:"tmc-url" help:"TMC message channel to consume: production, sandbox, a ws(s):// URL, or off. Empty: the embedded emulator's TMC endpoint without --top-url, off with one. Uses the app key and secret of --top-app-key and --top-app-secret."`
	Group  string   `flag:"tmc-group" default:"default" help:"TMC message group to consume; every replica may connect in the same group, and each message is stored once."`
	Topics []string `flag:"tmc-topics" help:"Only store messages of these TMC topics (comma-separated); messages of other topics are confirmed and dropped. Empty: every topic."`
}

// ResolveURL turns --tmc-url into the channel's address: "" when off.
// embedded says whether the embedded emulator runs (no --top-url);
// emulatorTMC is its TMC endpoint.
func (s Settings) ResolveURL(embedded bool, emulatorTMC string) (string, error) {
	switch s.URL {
	case "":
		if embedded {
			return emulatorTMC, nil
		}
		return "", nil
	case Off:
		return "", nil
	case "production":
		return ProductionURL, nil
	case "sandbox":
		return SandboxURL, nil
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", errors.New(`want "production", "sandbox", "off" or a ws:// or wss:// URL`)
	}
	return s.URL, nil
}

// Validate checks the settings; errors name the flag.
func (s Settings) Validate() error {
	var errs []error
	if _, err := s.ResolveURL(false, ""); err != nil {
		errs = append(errs, fmt.Errorf("--tmc-url: %w", err))
	}
	if s.Group == "" || strings.ContainsAny(s.Group, " \t\r\n") || len(s.Group) > 64 {
		errs = append(errs, errors.New("--tmc-group: want 1 to 64 characters without spaces"))
	}
	for _, t := range s.Topics {
		if t == "" || strings.ContainsAny(t, " \t\r\n,") || len(t) > 128 {
			errs = append(errs, fmt.Errorf("--tmc-topics: %q is not a topic name", t))
		}
	}
	return errors.Join(errs...)
}

// Config is what a Consumer needs besides its settings.
type Config struct {
	// URL is the channel's resolved address (Settings.ResolveURL).
	URL string
	// AppKey and AppSecret are the app's credentials.
	AppKey, AppSecret string
	// Log stores the messages.
	Log *events.Log
	// Logger logs the client's state changes and failures to store.
	Logger *slog.Logger
	// Metrics receives the client's events (internal/metrics); nil
	// discards.
	Metrics tmc.Metrics
	// Client adjusts the tmc.Config before the client is made (tests
	// shorten intervals); nil changes nothing.
	Client func(*tmc.Config)
}

// Consumer is the running pipeline: a tmc.Client appending to the log.
type Consumer struct {
	client *tmc.Client
	log    *events.Log
	logger *slog.Logger
}

// New returns the consumer of s with cfg; it connects in Run.
func New(s Settings, cfg Config) (*Consumer, error) {
	if cfg.Log == nil {
		return nil, errors.New("tmcconsumer: an event log is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{log: cfg.Log, logger: logger}
	tc := tmc.Config{
		URL: cfg.URL, AppKey: cfg.AppKey, AppSecret: cfg.AppSecret, Group: s.Group, Topics: s.Topics,
		Logger: logger, Metrics: cfg.Metrics,
	}
	if cfg.Client != nil {
		cfg.Client(&tc)
	}
	client, err := tmc.NewClient(tc, c.handle)
	if err != nil {
		return nil, err
	}
	c.client = client
	return c, nil
}

// handle stores m durably, once; the client confirms it when this returns
// nil and reports it failed otherwise.
func (c *Consumer) handle(ctx context.Context, m tmc.Message) error {
	_, _, err := c.log.Append(ctx, events.Event{
		MessageID: m.ID, Topic: m.Topic, UserID: m.UserID, UserNick: m.UserNick, PublishTime: m.PubTime,
		PublisherAppKey: m.PubAppKey, DataID: m.DataID, Content: m.Content,
	})
	if err != nil {
		if ctx.Err() == nil {
			c.logger.ErrorContext(ctx, "tmc: storing a message failed; the channel will redeliver it",
				slog.Int64("message_id", m.ID), slog.String("topic", m.Topic), slog.String("error", err.Error()))
		}
		return fmt.Errorf("store message %d: %w", m.ID, err)
	}
	return nil
}

// State is the client's connection state.
func (c *Consumer) State() tmc.State { return c.client.State() }

// Run consumes until ctx ends.
func (c *Consumer) Run(ctx context.Context) error { return c.client.Run(ctx) }
