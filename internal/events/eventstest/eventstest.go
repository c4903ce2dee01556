// Package eventstest holds the cases every events.Store must pass, so
// that the SQLite and the PostgreSQL stores are held to the same
// behaviour: call TestStore from each implementation's tests.
package eventstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/events"
)

// T0 is the time of the first event the cases store.
var T0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestStore runs every case against fresh stores made by open.
func TestStore(t *testing.T, open func(t *testing.T) events.Store) {
	t.Helper()
	t.Run("round trip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("dedup", func(t *testing.T) { testDedup(t, open(t)) })
	t.Run("after", func(t *testing.T) { testAfter(t, open(t)) })
	t.Run("prune", func(t *testing.T) { testPrune(t, open(t)) })
	t.Run("consumers", func(t *testing.T) { testConsumers(t, open(t)) })
	t.Run("canceled", func(t *testing.T) { testCanceled(t, open(t)) })
	t.Run("concurrent inserts", func(t *testing.T) { testConcurrentInserts(t, open(t)) })
}

// Message is the event of TMC message id, stored at T0 plus id minutes,
// of topic tmall_fuwu_WorkcardInfo when id is odd, else
// tmall_fuwu_WorkcardStatusUpdate.
func Message(id int64) events.Event {
	topic := "tmall_fuwu_WorkcardStatusUpdate"
	if id%2 == 1 {
		topic = "tmall_fuwu_WorkcardInfo"
	}
	return events.Event{
		MessageID: id, Topic: topic, UserID: 1000 + id, UserNick: fmt.Sprintf("nick%d", id),
		PublishTime: T0.Add(time.Duration(id) * time.Second), PublisherAppKey: "12345678", DataID: fmt.Sprint(id * 10),
		Content: fmt.Appendf(nil, `{"workcard_id":%d}`, id), StoredTime: T0.Add(time.Duration(id) * time.Minute),
	}
}

func insert(t *testing.T, s events.Store, e events.Event) (int64, bool) {
	t.Helper()
	c, stored, err := s.InsertEvent(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return c, stored
}

func cursors(t *testing.T, s events.Store, q events.Query) string {
	t.Helper()
	evs, err := s.EventsAfter(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, 0, len(evs))
	for _, e := range evs {
		if !q.Match(e) {
			t.Errorf("EventsAfter(%+v) returned event %d of %s, which does not match", q, e.Cursor, e.Topic)
		}
		out = append(out, e.Cursor)
	}
	return fmt.Sprint(out)
}

func bounds(t *testing.T, s events.Store) events.Bounds {
	t.Helper()
	b, err := s.EventBounds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRoundTrip(t *testing.T, s events.Store) {
	if b := bounds(t, s); b != (events.Bounds{}) {
		t.Fatalf("empty store: bounds %+v, want zero", b)
	}
	want := Message(7)
	want.MessageID = 2130000000000000001 // TMC ids are large int64
	want.UserID = 2200000000001
	want.PublishTime = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	want.Content = []byte("<xml>not JSON \x00 bytes</xml>")
	c, stored := insert(t, s, want)
	if c != 1 || !stored {
		t.Fatalf("first insert: cursor %d stored %v, want 1 true", c, stored)
	}
	evs, err := s.EventsAfter(context.Background(), events.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	got := evs[0]
	want.Cursor = 1
	if !bytes.Equal(got.Content, want.Content) {
		t.Errorf("content %q, want %q", got.Content, want.Content)
	}
	got.Content, want.Content = nil, nil
	if !got.PublishTime.Equal(want.PublishTime) || !got.StoredTime.Equal(want.StoredTime) {
		t.Errorf("times %v %v, want %v %v", got.PublishTime, got.StoredTime, want.PublishTime, want.StoredTime)
	}
	got.PublishTime, want.PublishTime, got.StoredTime, want.StoredTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("stored\n%+v\nwant\n%+v", got, want)
	}
	empty := Message(8)
	empty.Content = nil
	if c, _ := insert(t, s, empty); c != 2 {
		t.Fatalf("empty content: cursor %d, want 2", c)
	}
	if b := bounds(t, s); b != (events.Bounds{Last: 2}) {
		t.Fatalf("bounds %+v, want Last 2", b)
	}
}

func testDedup(t *testing.T, s events.Store) {
	for id := int64(1); id <= 3; id++ {
		if c, stored := insert(t, s, Message(id)); c != id || !stored {
			t.Fatalf("message %d: cursor %d stored %v", id, c, stored)
		}
	}
	again := Message(2)
	again.Content = []byte(`{"redelivered":true}`)
	if c, stored := insert(t, s, again); c != 2 || stored {
		t.Fatalf("redelivered message 2: cursor %d stored %v, want 2 false", c, stored)
	}
	evs, err := s.EventsAfter(context.Background(), events.Query{After: 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || string(evs[0].Content) != `{"workcard_id":2}` {
		t.Fatalf("after a duplicate: %+v, want the first delivery kept", evs)
	}
	if c, stored := insert(t, s, Message(4)); c != 4 || !stored {
		t.Fatalf("message 4 after a duplicate: cursor %d stored %v, want 4 (no cursor spent on the duplicate)", c, stored)
	}
	if b := bounds(t, s); b.Last != 4 {
		t.Fatalf("bounds %+v, want Last 4", b)
	}
}

func testAfter(t *testing.T, s events.Store) {
	for id := int64(1); id <= 5; id++ {
		insert(t, s, Message(id))
	}
	tests := []struct {
		name string
		q    events.Query
		want string
	}{
		{"all", events.Query{Limit: 10}, "[1 2 3 4 5]"},
		{"limit", events.Query{Limit: 2}, "[1 2]"},
		{"after", events.Query{After: 2, Limit: 10}, "[3 4 5]"},
		{"after and limit", events.Query{After: 2, Limit: 1}, "[3]"},
		{"after the last", events.Query{After: 5, Limit: 10}, "[]"},
		{"topic", events.Query{Topics: []string{"tmall_fuwu_WorkcardInfo"}, Limit: 10}, "[1 3 5]"},
		{"topic after", events.Query{After: 3, Topics: []string{"tmall_fuwu_WorkcardStatusUpdate"}, Limit: 10}, "[4]"},
		{"topics", events.Query{Topics: []string{"tmall_fuwu_WorkcardInfo", "tmall_fuwu_WorkcardStatusUpdate"}, Limit: 3}, "[1 2 3]"},
		{"unknown topic", events.Query{Topics: []string{"x"}, Limit: 10}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cursors(t, s, tt.q); got != tt.want {
				t.Errorf("EventsAfter(%+v) = %s, want %s", tt.q, got, tt.want)
			}
		})
	}
}

func testPrune(t *testing.T, s events.Store) {
	ctx := context.Background()
	for id := int64(1); id <= 6; id++ {
		e := Message(id)
		if id == 4 { // stored late: pruning stops before it
			e.StoredTime = T0.Add(time.Hour)
		}
		insert(t, s, e)
	}
	steps := []struct {
		name   string
		before time.Time
		limit  int
		n      int
		left   string
		pruned int64
	}{
		{"nothing old", T0, 10, 0, "[1 2 3 4 5 6]", 0},
		{"limited", T0.Add(10 * time.Minute), 2, 2, "[3 4 5 6]", 2},
		{"stops at a newer one", T0.Add(10 * time.Minute), 10, 1, "[4 5 6]", 3},
		{"then the rest", T0.Add(2 * time.Hour), 10, 3, "[]", 6},
	}
	for _, st := range steps {
		n, err := s.PruneEvents(ctx, st.before, st.limit)
		if err != nil {
			t.Fatal(err)
		}
		if n != st.n {
			t.Errorf("%s: pruned %d, want %d", st.name, n, st.n)
		}
		if got := cursors(t, s, events.Query{Limit: 10}); got != st.left {
			t.Errorf("%s: left %s, want %s", st.name, got, st.left)
		}
		if b := bounds(t, s); b != (events.Bounds{Last: 6, Pruned: st.pruned}) {
			t.Errorf("%s: bounds %+v, want Last 6 Pruned %d", st.name, b, st.pruned)
		}
	}
	if c, stored := insert(t, s, Message(7)); c != 7 || !stored {
		t.Fatalf("after pruning all: cursor %d stored %v, want 7 (cursors never reused)", c, stored)
	}
}

func testConsumers(t *testing.T, s events.Store) {
	ctx := context.Background()
	if _, err := s.ConsumerCursor(ctx, "billing"); !errors.Is(err, events.ErrNoConsumer) {
		t.Fatalf("unknown consumer: %v, want ErrNoConsumer", err)
	}
	steps := []struct {
		name   string
		commit int64
		want   int64
	}{
		{"billing", 3, 3},
		{"billing", 2, 3},
		{"billing", 3, 3},
		{"billing", 9, 9},
		{"dispatch", 0, 0},
		{"dispatch", 1, 1},
	}
	for _, st := range steps {
		got, err := s.CommitConsumer(ctx, st.name, st.commit, T0)
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Errorf("commit %s to %d: committed %d, want %d", st.name, st.commit, got, st.want)
		}
		if c, err := s.ConsumerCursor(ctx, st.name); err != nil || c != st.want {
			t.Errorf("consumer %s: %d %v, want %d", st.name, c, err, st.want)
		}
	}
}

func testCanceled(t *testing.T, s events.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.InsertEvent(ctx, Message(1)); err == nil {
		t.Error("InsertEvent with a canceled context succeeded")
	}
	if _, err := s.EventsAfter(ctx, events.Query{Limit: 1}); err == nil {
		t.Error("EventsAfter with a canceled context succeeded")
	}
	if b := bounds(t, s); b.Last != 0 {
		t.Errorf("a canceled insert stored something: %+v", b)
	}
}

// testConcurrentInserts inserts every message twice from concurrent
// writers (a redelivery racing its first delivery, two replicas), while a
// reader follows the log by cursor as a watcher does: each message must be
// stored once, with cursors 1..n, and the reader must see every one
// exactly once, never a cursor lower than one it already passed.
func testConcurrentInserts(t *testing.T, s events.Store) {
	const (
		writers  = 8
		messages = 200
	)
	ctx := context.Background()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stored int
		errs   []error
	)
	for w := range writers {
		wg.Go(func() {
			// Writers 2p and 2p+1 both insert the ids of pair p.
			perPair := messages / (writers / 2)
			for i := range perPair {
				id := int64((w/2)*perPair + i + 1)
				_, ok, err := s.InsertEvent(ctx, Message(id))
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					stored++
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	seen := map[int64]int{}
	var order []int64
	var readErr error
	go func() {
		defer close(done)
		var after int64
		for {
			b, err := s.EventBounds(ctx)
			if err != nil {
				readErr = err
				return
			}
			evs, err := s.EventsAfter(ctx, events.Query{After: after, Limit: 50})
			if err != nil {
				readErr = err
				return
			}
			for _, e := range evs {
				seen[e.MessageID]++
				order = append(order, e.Cursor)
				after = e.Cursor
			}
			if len(evs) == 0 && b.Last == messages && after == messages {
				return
			}
		}
	}()
	wg.Wait()
	<-done
	if readErr != nil {
		t.Fatal(readErr)
	}
	if len(errs) > 0 {
		t.Fatalf("%d inserts failed, first: %v", len(errs), errs[0])
	}
	if stored != messages {
		t.Errorf("%d inserts stored, want %d (each message once)", stored, messages)
	}
	if len(seen) != messages {
		t.Errorf("the reader saw %d messages, want %d", len(seen), messages)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("the reader saw message %d %d times", id, n)
		}
	}
	for i, c := range order {
		if c != int64(i+1) {
			t.Fatalf("the reader's %dth event has cursor %d, want %d (cursors 1..n in order)", i+1, c, i+1)
		}
	}
}
