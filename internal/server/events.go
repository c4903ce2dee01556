package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/servicecenterd/servicecenterd/internal/events"
	"github.com/servicecenterd/servicecenterd/internal/metrics"
	"github.com/servicecenterd/servicecenterd/internal/service"
	"github.com/servicecenterd/servicecenterd/internal/tmcconsumer"
)

// eventPruneEvery is how often the event log's retention runs.
const eventPruneEvery = time.Hour

// eventPipe is the TMC side of the server: the event log in the store,
// the consumer that fills it (nil with --tmc-url off) and the EventService
// handlers that read it.
type eventPipe struct {
	log      *events.Log
	consumer *tmcconsumer.Consumer
	handlers *service.Events
	tmcURL   string
}

// newEvents builds the event log on the store and, unless --tmc-url says
// off, the TMC consumer with the app's credentials (the emulator's when
// embedded, at its TMC endpoint).
func (s *Server) newEvents() error {
	cfg := s.cfg
	known := append(service.TypedTopics(), cfg.TMC.Topics...)
	m := metrics.NewTMC(s.metrics.Registerer(), known)
	logger := s.logger.With(slog.String("component", "events"))
	log, err := events.NewLog(events.LogConfig{Store: s.store, Retention: cfg.Events.Retention, Logger: logger, Metrics: m})
	if err != nil {
		return err
	}
	p := &eventPipe{log: log, handlers: service.NewEvents(log, s.authn.Topics, s.logger)}
	emulatorTMC := ""
	if s.upstream.emulatorURL != "" {
		emulatorTMC = "ws://" + strings.TrimPrefix(s.upstream.emulatorURL, "http://") + "/"
	}
	if p.tmcURL, err = cfg.TMC.ResolveURL(cfg.TOP.Embedded(), emulatorTMC); err != nil {
		return fmt.Errorf("--tmc-url: %w", err)
	}
	if p.tmcURL != "" {
		p.consumer, err = tmcconsumer.New(cfg.TMC, tmcconsumer.Config{
			URL: p.tmcURL, AppKey: s.upstream.appKey, AppSecret: s.upstream.appSecret,
			Log: log, Logger: s.logger.With(slog.String("component", "tmc")), Metrics: m,
		})
		if err != nil {
			return fmt.Errorf("tmc consumer: %w", err)
		}
	}
	s.events = p
	return nil
}

// run runs, in g until ctx ends, the log's poll of the newest cursor and
// the consumer (the retention is a periodic job: schedulePruning).
func (p *eventPipe) run(ctx context.Context, g *errgroup.Group) {
	g.Go(func() error {
		p.log.Run(ctx)
		return nil
	})
	if p.consumer != nil {
		g.Go(func() error { return p.consumer.Run(ctx) })
	}
}

// flushWatchStart sends the status line and headers of a REST
// WatchEvents as soon as the stream is set up (its x-event-cursor header
// arrived), before any event: a REST client learns at once that it is
// subscribed (and from which cursor, Grpc-Metadata-X-Event-Cursor)
// instead of waiting for the first event. The gateway calls it with no
// message once, before the stream's messages.
func flushWatchStart(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
	if m != nil {
		return nil
	}
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if !ok || len(md.HeaderMD.Get(service.HeaderEventCursor)) == 0 {
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
	return nil
}

// watchRoute lets event watches stream longer than the server's write
// timeout.
func watchRoute(gateway http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		gateway.ServeHTTP(w, r)
	})
}
