package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/events"
	"github.com/servicecenterd/servicecenterd/internal/events/eventstest"
	"github.com/servicecenterd/servicecenterd/internal/store/storetest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgtest"
)

func newLog(t *testing.T, st events.Store, cfg events.LogConfig) *events.Log {
	t.Helper()
	cfg.Store = st
	l, err := events.NewLog(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// watcher collects what Watch sends.
type watcher struct {
	mu   sync.Mutex
	got  []events.Event
	more chan struct{}
	done chan error
}

func watch(t *testing.T, l *events.Log, after int64, topics []string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{more: make(chan struct{}, 1), done: make(chan error, 1)}
	go func() {
		w.done <- l.Watch(ctx, after, topics, func(evs []events.Event) error {
			w.mu.Lock()
			w.got = append(w.got, evs...)
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-w.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch ended with %v, want context.Canceled", err)
		}
	})
	return w
}

// waitFor waits until the watcher has n events, or fails after within.
func (w *watcher) waitFor(t *testing.T, n int, within time.Duration) []events.Event {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		got := append([]events.Event(nil), w.got...)
		w.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-w.more:
		case <-deadline.C:
			t.Fatalf("watcher has %d events after %v, want %d", len(got), within, n)
		}
	}
}

func cursorsOf(evs []events.Event) string {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Cursor
	}
	return fmt.Sprint(out)
}

// TestWatch: a watcher gets the stored events after its cursor, then each
// new one as this process appends it, each once, in cursor order, only of
// its topics; duplicates wake nobody and add nothing.
func TestWatch(t *testing.T) {
	ctx := context.Background()
	l := newLog(t, storetest.SQLite(t), events.LogConfig{PollInterval: time.Hour, Batch: 2})
	for id := int64(1); id <= 3; id++ {
		if _, _, err := l.Append(ctx, eventstest.Message(id)); err != nil {
			t.Fatal(err)
		}
	}
	all := watch(t, l, 1, nil)
	odd := watch(t, l, 0, []string{"tmall_fuwu_WorkcardInfo"})
	if got := cursorsOf(all.waitFor(t, 2, 5*time.Second)); got != "[2 3]" {
		t.Fatalf("backlog %s, want [2 3]", got)
	}
	for id := int64(4); id <= 7; id++ {
		if _, _, err := l.Append(ctx, eventstest.Message(id)); err != nil {
			t.Fatal(err)
		}
		if _, stored, err := l.Append(ctx, eventstest.Message(id)); err != nil || stored {
			t.Fatalf("append again: stored %v, %v", stored, err)
		}
	}
	// The poll runs hourly: only Append's wake-up can deliver these.
	if got := cursorsOf(all.waitFor(t, 6, 5*time.Second)); got != "[2 3 4 5 6 7]" {
		t.Fatalf("watcher got %s, want [2 3 4 5 6 7]", got)
	}
	if got := cursorsOf(odd.waitFor(t, 4, 5*time.Second)); got != "[1 3 5 7]" {
		t.Fatalf("topic watcher got %s, want [1 3 5 7]", got)
	}
}

// TestWatchOtherReplica: on PostgreSQL, a watcher of one replica sees the
// events another replica commits, within the poll interval, each once
// and in order, while both append at once.
func TestWatchOtherReplica(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := newLog(t, storetest.PostgresAt(t, url), events.LogConfig{PollInterval: 50 * time.Millisecond})
	b := newLog(t, storetest.PostgresAt(t, url), events.LogConfig{PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	w := watch(t, a, 0, nil)
	const n = 100
	var wg sync.WaitGroup
	for i, l := range []*events.Log{a, b} {
		wg.Go(func() {
			for id := int64(1); id <= n; id++ {
				if id%2 == int64(i) {
					continue
				}
				if _, _, err := l.Append(ctx, eventstest.Message(id)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := w.waitFor(t, n, 5*time.Second)
	seen := map[int64]bool{}
	for i, e := range got {
		if e.Cursor != int64(i+1) || seen[e.MessageID] {
			t.Fatalf("event %d: cursor %d, message %d (seen before: %v)", i, e.Cursor, e.MessageID, seen[e.MessageID])
		}
		seen[e.MessageID] = true
	}
	// One more from the other replica: seen within the poll's bound.
	start := time.Now()
	if _, _, err := b.Append(ctx, eventstest.Message(n+1)); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, n+1, time.Second)
	t.Logf("the other replica's event reached the watcher in %v", time.Since(start))
}

// TestBegin: where a reading starts, and the refusals of a cursor older
// than the retention or beyond the newest event.
func TestBegin(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	now := eventstest.T0.Add(time.Hour)
	l := newLog(t, st, events.LogConfig{Retention: 30 * time.Minute, Now: func() time.Time { return now }})
	for id := int64(1); id <= 5; id++ {
		if _, _, err := st.InsertEvent(ctx, eventstest.Message(id)); err != nil { // stored at T0 + id minutes
			t.Fatal(err)
		}
	}
	if n, err := l.Prune(ctx, eventstest.T0.Add(33*time.Minute)); err != nil || n != 2 {
		t.Fatalf("prune: %d %v, want 2", n, err)
	}
	tests := []struct {
		name  string
		start events.Start
		want  int64
		err   error
	}{
		{"from the oldest kept", events.Start{}, 2, nil},
		{"newest", events.Start{FromNewest: true}, 5, nil},
		{"at the retention floor", events.Start{After: 2}, 2, nil},
		{"inside", events.Start{After: 4}, 4, nil},
		{"at the newest", events.Start{After: 5}, 5, nil},
		{"expired", events.Start{After: 1}, 0, events.ErrCursorExpired},
		{"ahead", events.Start{After: 6}, 0, events.ErrCursorAhead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Begin(ctx, tt.start)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Begin(%+v) = %d, %v; want %d, %v", tt.start, got, err, tt.want, tt.err)
			}
		})
	}
	if _, _, err := l.Read(ctx, 1, nil, 10); !errors.Is(err, events.ErrCursorExpired) {
		t.Fatalf("Read after an expired cursor: %v", err)
	}
}

func TestNewLogRefuses(t *testing.T) {
	st := storetest.SQLite(t)
	for _, cfg := range []events.LogConfig{{}, {Store: st, PollInterval: -1}, {Store: st, Retention: -1}} {
		if _, err := events.NewLog(cfg); err == nil {
			t.Errorf("NewLog(%+v) accepted", cfg)
		}
	}
}
