// Package events drives the TMC event flow from outside, through real
// listeners: the emulator publishes on its TMC endpoint, servicecenterd
// consumes and stores, and EventService clients (the generated Go client,
// the REST gateway) watch, list and acknowledge. The crash and replica
// tests run the built binary and PostgreSQL.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/service"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// demoStore and demoWorker are a store and a worker of the emulator's
// demo data.
const (
	demoStore  = 12345
	demoWorker = 1234567
)

// watchStream is a WatchEvents stream whose events arrive on a channel.
type watchStream struct {
	events chan *scv1.Event
	err    chan error
	after  int64 // the x-event-cursor header: where the stream started
}

// watch opens WatchEvents and waits for its header, so that every event
// committed afterwards reaches it.
func watch(t *testing.T, c scv1.EventServiceClient, req *scv1.WatchEventsRequest, opts ...grpc.CallOption) *watchStream {
	t.Helper()
	return watchCtx(t, context.Background(), c, req, opts...)
}

// watchCtx is watch with the call's context (credentials in its
// metadata, say).
func watchCtx(t *testing.T, ctx context.Context, c scv1.EventServiceClient, req *scv1.WatchEventsRequest, opts ...grpc.CallOption) *watchStream {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	stream, err := c.WatchEvents(ctx, req, opts...)
	if err != nil {
		t.Fatal(err)
	}
	md, err := stream.Header()
	if err != nil {
		t.Fatalf("WatchEvents header: %v", err)
	}
	w := &watchStream{events: make(chan *scv1.Event, 1024), err: make(chan error, 1)}
	if v := md.Get(service.HeaderEventCursor); len(v) == 1 {
		w.after, _ = strconv.ParseInt(v[0], 10, 64)
	} else {
		// A stream that failed at once has no header of ours: its status
		// comes with the first Recv.
		_, err := stream.Recv()
		w.err <- err
		return w
	}
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				w.err <- err
				return
			}
			w.events <- resp.GetEvent()
		}
	}()
	return w
}

// next returns the next event, failing the test after within.
func (w *watchStream) next(t *testing.T, within time.Duration) *scv1.Event {
	t.Helper()
	select {
	case e := <-w.events:
		return e
	case err := <-w.err:
		t.Fatalf("watch ended: %v", err)
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
	}
	return nil
}

// quiet checks that no event arrives within d.
func (w *watchStream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-w.events:
		t.Fatalf("unexpected event %d (%s, message %d)", e.GetCursor(), e.GetTopic(), e.GetMessageId())
	case err := <-w.err:
		t.Fatalf("watch ended: %v", err)
	case <-time.After(d):
	}
}

// TestWorkcardFlow is the flow through real listeners: the
// emulator's admin API creates a workcard; a WatchEvents subscriber
// receives the typed tmall_fuwu_WorkcardInfo within 1 s; it calls
// AssignWorker with the workcard id from the event and receives the
// tmall_fuwu_WorkcardStatusUpdate of the assignment.
func TestWorkcardFlow(t *testing.T) {
	ts := testserver.Start(t, nil) // the embedded emulator, whose TMC endpoint it consumes by default
	w := watch(t, ts.Events, &scv1.WatchEventsRequest{Topics: []string{"tmall_fuwu_WorkcardInfo", "tmall_fuwu_WorkcardStatusUpdate"}})

	created := time.Now()
	var answer struct {
		Workcard struct {
			ID int64 `json:"id"`
		} `json:"workcard"`
	}
	if err := json.Unmarshal(ts.Emulator(t, "POST", "/_emulator/workcards", map[string]any{"service_store_id": demoStore}), &answer); err != nil {
		t.Fatal(err)
	}
	info := w.next(t, time.Second)
	t.Logf("tmall_fuwu_WorkcardInfo reached the watcher %v after the admin call", time.Since(created))
	if info.GetTopic() != "tmall_fuwu_WorkcardInfo" || info.GetTmallFuwuWorkcardInfo() == nil {
		t.Fatalf("first event: %v, want a typed tmall_fuwu_WorkcardInfo", info)
	}
	var result struct {
		WorkcardID int64 `json:"workcard_id"`
	}
	if err := json.Unmarshal([]byte(info.GetTmallFuwuWorkcardInfo().GetResult()), &result); err != nil || result.WorkcardID == 0 {
		t.Fatalf("WorkcardInfo result %q: %v", info.GetTmallFuwuWorkcardInfo().GetResult(), err)
	}
	if answer.Workcard.ID != 0 && answer.Workcard.ID != result.WorkcardID {
		t.Fatalf("the event names workcard %d, the admin call created %d", result.WorkcardID, answer.Workcard.ID)
	}

	ctx := context.Background()
	if _, err := ts.Workcards.AssignWorker(ctx, &scv1.AssignWorkerRequest{
		WorkcardId: result.WorkcardID, TargetWorkerId: demoWorker, Type: scv1.OperatorType_OPERATOR_TYPE_PROVIDER,
	}); err != nil {
		t.Fatalf("AssignWorker: %v", err)
	}
	upd := w.next(t, time.Second)
	if got := metric(t, ts.HTTPAddr(), `servicecenterd_tmc_connection_state\{state="connected"\}`); got != 1 {
		t.Errorf("servicecenterd_tmc_connection_state{state=\"connected\"} = %v, want 1", got)
	}
	// The confirm follows the commit the watcher saw: wait for it.
	testserver.WaitFor(t, "the WorkcardInfo confirm counted", func() bool {
		return metric(t, ts.HTTPAddr(), `servicecenterd_tmc_messages_handled_total\{outcome="confirmed",topic="tmall_fuwu_WorkcardInfo"\}`) == 1
	})
	su := upd.GetTmallFuwuWorkcardStatusUpdate()
	if su == nil || su.GetWorkcardId() != result.WorkcardID || su.GetAction() != "assign" || upd.GetCursor() <= info.GetCursor() {
		t.Fatalf("after AssignWorker: %v, want the assign status update of workcard %d after cursor %d", upd, result.WorkcardID, info.GetCursor())
	}
}

// publish publishes n messages of topic on the emulator of ts and
// returns their TMC ids.
func publish(t *testing.T, admin func(t testing.TB, method, path string, body any) []byte, topic string, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range n {
		var out struct {
			ID int64 `json:"id"`
		}
		body := map[string]any{"topic": topic, "content": map[string]any{"workcard_id": i + 1, "action": "create", "tp_id": 1, "type": 1, "status": 1}}
		if err := json.Unmarshal(admin(t, "POST", "/_emulator/tmc/messages", body), &out); err != nil {
			t.Fatal(err)
		}
		ids[i] = out.ID
	}
	return ids
}

// TestResume: a watcher that disconnects and resumes after its last
// cursor, or under its consumer name after AckEvents, misses nothing and
// sees nothing twice; ListEvents pages through the same events.
func TestResume(t *testing.T) {
	ts := testserver.Start(t, nil)
	ctx := context.Background()
	topic := "tmall_fuwu_WorkcardStatusUpdate"

	first := watch(t, ts.Events, &scv1.WatchEventsRequest{AfterCursor: new(int64(0))})
	ids := publish(t, ts.Emulator, topic, 5)
	var last int64
	for i := range 3 {
		e := first.next(t, 5*time.Second)
		if e.GetMessageId() != ids[i] {
			t.Fatalf("event %d: message %d, want %d", i, e.GetMessageId(), ids[i])
		}
		last = e.GetCursor()
	}
	// By cursor: the rest, then a new one, each once.
	byCursor := watch(t, ts.Events, &scv1.WatchEventsRequest{AfterCursor: &last})
	more := publish(t, ts.Emulator, topic, 1)
	for _, want := range append(ids[3:], more...) {
		if e := byCursor.next(t, 5*time.Second); e.GetMessageId() != want {
			t.Fatalf("resumed by cursor: message %d, want %d", e.GetMessageId(), want)
		}
	}
	byCursor.quiet(t, 200*time.Millisecond)

	// By consumer: from the oldest event for a new consumer; after an ack,
	// from the acknowledged cursor.
	consumer := watch(t, ts.Events, &scv1.WatchEventsRequest{Consumer: "billing"})
	if e := consumer.next(t, 5*time.Second); e.GetMessageId() != ids[0] {
		t.Fatalf("a new consumer starts at %d, want the oldest event's message %d", e.GetMessageId(), ids[0])
	}
	ack, err := ts.Events.AckEvents(ctx, &scv1.AckEventsRequest{Consumer: "billing", Cursor: last})
	if err != nil || ack.GetCursor() != last {
		t.Fatalf("AckEvents: %v %v", ack, err)
	}
	if ack, err := ts.Events.AckEvents(ctx, &scv1.AckEventsRequest{Consumer: "billing", Cursor: 1}); err != nil || ack.GetCursor() != last {
		t.Fatalf("AckEvents backwards: %v %v, want the committed %d kept", ack, err, last)
	}
	resumed := watch(t, ts.Events, &scv1.WatchEventsRequest{Consumer: "billing"})
	if resumed.after != last {
		t.Fatalf("consumer resumed after %d, want %d", resumed.after, last)
	}
	for _, want := range append(ids[3:], more...) {
		if e := resumed.next(t, 5*time.Second); e.GetMessageId() != want {
			t.Fatalf("resumed by consumer: message %d, want %d", e.GetMessageId(), want)
		}
	}
	resumed.quiet(t, 200*time.Millisecond)

	// ListEvents, two at a time, oldest first.
	var listed []int64
	req := &scv1.ListEventsRequest{PageSize: 2}
	for {
		page, err := ts.Events.ListEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEvents() {
			listed = append(listed, e.GetMessageId())
		}
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	if want := fmt.Sprint(append(ids, more...)); fmt.Sprint(listed) != want {
		t.Fatalf("listed %v, want %s", listed, want)
	}
}

// TestRefusals: the statuses of bad cursors, tokens and consumers.
func TestRefusals(t *testing.T) {
	ts := testserver.Start(t, nil)
	ctx := context.Background()
	publish(t, ts.Emulator, "tmall_fuwu_WorkcardStatusUpdate", 1)
	testserver.WaitFor(t, "the message stored", func() bool {
		r, err := ts.Events.ListEvents(ctx, &scv1.ListEventsRequest{})
		return err == nil && r.GetLastCursor() == 1
	})
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"watch ahead", func() error {
			w := watch(t, ts.Events, &scv1.WatchEventsRequest{AfterCursor: new(int64(9))})
			return <-w.err
		}, codes.InvalidArgument},
		{"watch bad topic", func() error {
			w := watch(t, ts.Events, &scv1.WatchEventsRequest{Topics: []string{"a b"}})
			return <-w.err
		}, codes.InvalidArgument},
		{"watch bad consumer", func() error {
			w := watch(t, ts.Events, &scv1.WatchEventsRequest{Consumer: "-x"})
			return <-w.err
		}, codes.InvalidArgument},
		{"list ahead", func() error {
			_, err := ts.Events.ListEvents(ctx, &scv1.ListEventsRequest{AfterCursor: 2})
			return err
		}, codes.InvalidArgument},
		{"list foreign token", func() error {
			_, err := ts.Events.ListEvents(ctx, &scv1.ListEventsRequest{PageToken: "AAAAAAAAAAEAAAAAAAAAAA"})
			return err
		}, codes.InvalidArgument},
		{"ack ahead", func() error {
			_, err := ts.Events.AckEvents(ctx, &scv1.AckEventsRequest{Consumer: "c", Cursor: 2})
			return err
		}, codes.InvalidArgument},
		{"ack no consumer", func() error {
			_, err := ts.Events.AckEvents(ctx, &scv1.AckEventsRequest{Cursor: 1})
			return err
		}, codes.InvalidArgument},
		{"ack zero", func() error {
			_, err := ts.Events.AckEvents(ctx, &scv1.AckEventsRequest{Consumer: "c"})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(tt.call()); got != tt.want {
				t.Fatalf("code %v, want %v", got, tt.want)
			}
		})
	}
}

// TestShutdownEndsWatches: a graceful shutdown does not wait for watches
// (they never end by themselves): they end at once with UNAVAILABLE,
// reason SHUTTING_DOWN, and the server stops well within its timeout.
func TestShutdownEndsWatches(t *testing.T) {
	ts := testserver.Start(t, nil)
	w := watch(t, ts.Events, &scv1.WatchEventsRequest{})
	stopped := make(chan error, 1)
	go func() { stopped <- ts.Shutdown(t) }()
	select {
	case err := <-w.err:
		st := status.Convert(err)
		if st.Code() != codes.Unavailable || !strings.Contains(fmt.Sprint(st.Details()), service.ReasonShuttingDown) {
			t.Fatalf("watch ended with %v %v, want UNAVAILABLE with reason %s", st.Code(), st.Details(), service.ReasonShuttingDown)
		}
	case <-time.After(ts.Cfg.Process.ShutdownTimeout):
		t.Fatal("the watch outlived the shutdown timeout")
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
