package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/events"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// Page sizes of ListEvents.
const (
	DefaultEventPageSize = 100
	MaxEventPageSize     = 1000
)

// Reasons of the EventService's own errors (ErrorInfo, domain
// servicecenterd).
const (
	// ReasonEventCursorExpired: the cursor is older than the retention.
	ReasonEventCursorExpired = "EVENT_CURSOR_EXPIRED"
	// ReasonEventCursorAhead: the cursor is beyond the newest event.
	ReasonEventCursorAhead = "EVENT_CURSOR_AHEAD"
	// ReasonTopicNotAllowed: the client may not read a topic it asked for.
	ReasonTopicNotAllowed = "TOPIC_NOT_ALLOWED"
)

// HeaderEventCursor is the response header of WatchEvents that carries
// the cursor the stream starts after, sent as soon as the stream is set
// up: from then on every event committed is sent.
const HeaderEventCursor = "x-event-cursor"

// Events implements servicecenter.v1.EventService over an events.Log.
type Events struct {
	scv1.UnimplementedEventServiceServer
	log    *events.Log
	topics func(client string) auth.Topics
	logger *slog.Logger
	now    func() time.Time
	// stop is closed by Shutdown: watches end.
	stop     chan struct{}
	stopOnce sync.Once
}

var _ scv1.EventServiceServer = (*Events)(nil)

// NewEvents returns the EventService handlers reading log. topics says
// which topics a client (rpc.Call.Client) may read; nil lets every
// client read every topic.
func NewEvents(log *events.Log, topics func(client string) auth.Topics, logger *slog.Logger) *Events {
	if topics == nil {
		topics = func(string) auth.Topics { return auth.Topics{} }
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Events{log: log, topics: topics, logger: logger, now: time.Now, stop: make(chan struct{})}
}

// Shutdown ends every watch in progress, and every later one at once,
// with UNAVAILABLE: the server is stopping, and the watcher resumes
// after its last cursor on another replica or after the restart. A
// graceful stop then need not wait for watchers that never end.
func (h *Events) Shutdown() { h.stopOnce.Do(func() { close(h.stop) }) }

// errShuttingDown ends watches when the server stops.
var errShuttingDown = errors.New("server shutting down")

// topicQuery checks the requested topics against the client's and
// returns the topics to ask the store for and, when the client's topics
// are prefixes, the filter of the events read.
func (h *Events) topicQuery(ctx context.Context, requested []string) ([]string, func(string) bool, error) {
	client := rpc.CallFrom(ctx).Client
	allowed := h.topics(client)
	if len(requested) > 0 {
		for _, t := range requested {
			if !allowed.Allowed(t) {
				return nil, nil, rpc.ErrorInfo(codes.PermissionDenied,
					"client "+client+" may not read topic "+t, ReasonTopicNotAllowed, map[string]string{"topic": t})
			}
		}
		return requested, nil, nil
	}
	if allowed.All() {
		return nil, nil, nil
	}
	if names, ok := allowed.Names(); ok {
		slices.Sort(names)
		return names, nil, nil
	}
	return nil, allowed.Allowed, nil
}

// WatchEvents streams events (see the proto). It sends the header
// x-event-cursor once the stream is set up.
func (h *Events) WatchEvents(req *scv1.WatchEventsRequest, stream grpc.ServerStreamingServer[scv1.WatchEventsResponse]) error {
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	go func() {
		select {
		case <-h.stop:
			cancel(errShuttingDown)
		case <-ctx.Done():
		}
	}()
	topics, filter, err := h.topicQuery(ctx, req.GetTopics())
	if err != nil {
		return err
	}
	var start events.Start
	switch {
	case req.AfterCursor != nil:
		start.After = req.GetAfterCursor()
	case req.GetConsumer() != "":
		c, err := h.log.Store().ConsumerCursor(ctx, consumerKey(ctx, req.GetConsumer()))
		switch {
		case errors.Is(err, events.ErrNoConsumer):
			start.After = 0
		case err != nil:
			return h.fail(ctx, err)
		default:
			start.After = c
		}
	default:
		start.FromNewest = true
	}
	after, err := h.log.Begin(ctx, start)
	if err != nil {
		return h.fail(ctx, err)
	}
	if err := stream.SendHeader(metadata.Pairs(HeaderEventCursor, strconv.FormatInt(after, 10))); err != nil {
		return err
	}
	withContent := req.GetIncludeContent()
	err = h.log.Watch(ctx, after, topics, func(evs []events.Event) error {
		for _, e := range evs {
			if filter != nil && !filter(e.Topic) {
				continue
			}
			if err := stream.Send(&scv1.WatchEventsResponse{Event: EventToProto(e, withContent)}); err != nil {
				return err
			}
		}
		return nil
	})
	return h.fail(ctx, err)
}

// ListEvents lists a page of events, oldest first.
func (h *Events) ListEvents(ctx context.Context, req *scv1.ListEventsRequest) (*scv1.ListEventsResponse, error) {
	topics, filter, err := h.topicQuery(ctx, req.GetTopics())
	if err != nil {
		return nil, err
	}
	fp := topicsFingerprint(req.GetTopics())
	after := req.GetAfterCursor()
	if tok := req.GetPageToken(); tok != "" {
		c, ok := parsePageToken(tok, fp)
		if !ok {
			return nil, rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{
				Field: "page_token", Description: "not a page token of this query (same topics); start again without page_token",
			})
		}
		after = c
	}
	if after, err = h.log.Begin(ctx, events.Start{After: after}); err != nil {
		return nil, h.fail(ctx, err)
	}
	limit := int(req.GetPageSize())
	if limit == 0 {
		limit = DefaultEventPageSize
	}
	limit = min(limit, MaxEventPageSize)
	evs, b, err := h.log.Read(ctx, after, topics, limit+1)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	resp := &scv1.ListEventsResponse{LastCursor: b.Last}
	if len(evs) > limit {
		evs = evs[:limit]
		resp.NextPageToken = pageToken(evs[limit-1].Cursor, fp)
	}
	for _, e := range evs {
		if filter == nil || filter(e.Topic) {
			resp.Events = append(resp.Events, EventToProto(e, req.GetIncludeContent()))
		}
	}
	return resp, nil
}

// topicsFingerprint identifies a ListEvents query in its page tokens
// (pageToken, as ListAuditEvents'): the topics, in any order.
func topicsFingerprint(topics []string) [8]byte {
	sorted := slices.Clone(topics)
	slices.Sort(sorted)
	sum := sha256.Sum256([]byte("events\x00" + strings.Join(sorted, "\x00")))
	return [8]byte(sum[:8])
}

// AckEvents commits a consumer's cursor.
func (h *Events) AckEvents(ctx context.Context, req *scv1.AckEventsRequest) (*scv1.AckEventsResponse, error) {
	b, err := h.log.Store().EventBounds(ctx)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	if req.GetCursor() > b.Last {
		return nil, cursorAhead("cursor", req.GetCursor(), b.Last)
	}
	c, err := h.log.Store().CommitConsumer(ctx, consumerKey(ctx, req.GetConsumer()), req.GetCursor(), h.now())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &scv1.AckEventsResponse{Consumer: req.GetConsumer(), Cursor: c}, nil
}

// consumerKey is the stored name of a consumer: the name within the
// authenticated client's own space ("client/name"), so that a client can
// neither read nor move another client's cursor; the name alone without
// authentication. Consumer names have no "/", so the spaces never meet.
func consumerKey(ctx context.Context, name string) string {
	if client := rpc.CallFrom(ctx).Client; client != "" {
		return client + "/" + name
	}
	return name
}

func cursorAhead(field string, cursor, last int64) error {
	return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{
		Field:       field,
		Description: "cursor " + strconv.FormatInt(cursor, 10) + " is beyond the newest event, " + strconv.FormatInt(last, 10),
		Reason:      ReasonEventCursorAhead,
	})
}

// fail maps the reading side's errors to statuses.
func (h *Events) fail(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, events.ErrCursorExpired):
		return rpc.ErrorInfo(codes.FailedPrecondition, err.Error()+" (--event-retention "+h.log.Retention().String()+")",
			ReasonEventCursorExpired, nil)
	case errors.Is(err, events.ErrCursorAhead):
		return rpc.ErrorInfo(codes.InvalidArgument, err.Error(), ReasonEventCursorAhead, nil)
	case errors.Is(context.Cause(ctx), errShuttingDown):
		return rpc.ErrorInfo(codes.Unavailable, "server shutting down: resume after the last cursor received", ReasonShuttingDown, nil)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return nil // the watcher went away
	}
	return Status(ctx, h.logger, err)
}
