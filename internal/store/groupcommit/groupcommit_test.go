package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestGroupsShareCommits: concurrent writes are committed once each, in
// groups no larger than the maximum; while a commit runs, the writes that
// arrive wait and then share the next commits (synctest.Wait makes sure
// every caller is waiting before the first commit ends).
func TestGroupsShareCommits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers = 64
		var (
			mu        sync.Mutex
			committed = map[int]int{}
			groups    []int
		)
		release := make(chan struct{})
		w := New(16, func(vs []int) error {
			if len(groups) == 0 {
				<-release // hold the first commit until the others wait
			}
			mu.Lock()
			defer mu.Unlock()
			for _, v := range vs {
				committed[v]++
			}
			groups = append(groups, len(vs))
			return nil
		})
		defer w.Close()
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := w.Write(context.Background(), -1); err != nil {
				t.Error(err)
			}
		})
		synctest.Wait() // the first write is in its commit
		for i := range callers {
			wg.Go(func() {
				if err := w.Write(context.Background(), i); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait() // every caller waits for the writer
		close(release)
		wg.Wait()
		if len(committed) != callers+1 {
			t.Fatalf("%d values committed, want %d", len(committed), callers+1)
		}
		for v, n := range committed {
			if n != 1 {
				t.Errorf("value %d committed %d times", v, n)
			}
		}
		// 1 alone, then 64 in groups of 16 at most.
		if want := []int{1, 16, 16, 16, 16}; fmt.Sprint(groups) != fmt.Sprint(want) {
			t.Errorf("groups %v, want %v", groups, want)
		}
	})
}

func TestErrorsAndClose(t *testing.T) {
	boom := errors.New("boom")
	w := New(4, func([]string) error { return boom })
	if err := w.Write(context.Background(), "x"); !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want the commit's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w2 := New(4, func([]string) error { return nil })
	w2.Close()
	if err := w2.Write(ctx, "x"); err == nil {
		t.Fatal("Write with a canceled context on a closed writer succeeded")
	}
	w.Close()
	w.Close()
	if err := w.Write(context.Background(), "y"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}

// commitLog is a Writer[int] whose commits record their values and
// times since the log's start. Its first commit is held until makeBusy
// has two more values waiting behind it.
type commitLog struct {
	t       *testing.T
	w       *Writer[int]
	start   time.Time
	release chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	groups  [][]int
	at      []time.Duration
}

// newCommitLog returns a commitLog writing with o (the caller closes
// its w).
func newCommitLog(t *testing.T, o Options) *commitLog {
	l := &commitLog{t: t, start: time.Now(), release: make(chan struct{})}
	l.w = NewWithOptions(o, func(vs []int) error {
		l.mu.Lock()
		first := len(l.groups) == 0
		l.groups = append(l.groups, slices.Clone(vs))
		l.at = append(l.at, time.Since(l.start))
		l.mu.Unlock()
		if first {
			<-l.release // hold the first commit until two more wait
		}
		return nil
	})
	return l
}

// write writes v on a goroutine of its own; wait waits for every write.
func (l *commitLog) write(v int) {
	l.wg.Go(func() {
		if err := l.w.Write(context.Background(), v); err != nil {
			l.t.Error(err)
		}
	})
}

func (l *commitLog) wait() { l.wg.Wait() }

// since is the time since the log's start.
func (l *commitLog) since() time.Duration { return time.Since(l.start) }

// makeBusy commits 0 alone (the writer is not busy), then 1 and 2
// together, so that the writer's last group had more than one value.
func (l *commitLog) makeBusy() {
	l.write(0)
	synctest.Wait()
	l.write(1)
	synctest.Wait() // 1 waits before 2 (a channel's senders are served in order)
	l.write(2)
	synctest.Wait()
	close(l.release) // 1 and 2 share the next commit
	l.wait()
}

// TestLinger: a writer that is not busy commits a lone value at once; a
// busy one (its last group had more than one value) waits up to Linger
// after a group's first value, so that values arriving one by one within
// it share a commit, and commits at Linger whatever came.
func TestLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const linger = time.Millisecond
		l := newCommitLog(t, Options{Max: 8, Linger: linger})
		defer l.w.Close()
		// A lone value: committed at once (not busy); then busy.
		l.makeBusy()
		// Busy: values 100µs apart share one commit, which waits Linger
		// from the first of them.
		lingerStart := l.since()
		for v := 3; v < 6; v++ {
			l.write(v)
			time.Sleep(100 * time.Microsecond)
		}
		l.wait()
		// The last group had three values: still busy; a lone value now
		// waits Linger, then commits alone, and the writer is idle again.
		l.write(6)
		l.wait()
		loneStart := l.since()
		l.write(7)
		l.wait()
		want := [][]int{{0}, {1, 2}, {3, 4, 5}, {6}, {7}}
		if fmt.Sprint(l.groups) != fmt.Sprint(want) {
			t.Fatalf("groups %v, want %v", l.groups, want)
		}
		if got := l.at[2] - lingerStart; got != linger {
			t.Errorf("busy group committed %v after its first value, want %v", got, linger)
		}
		if got := l.at[4] - loneStart; got != 0 {
			t.Errorf("idle writer committed a lone value after %v, want at once", got)
		}
	})
}

// TestLingerGap: a busy writer stops waiting when no value came for Gap,
// and at Linger after the group's first value while values keep coming.
func TestLingerGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const linger, gap, every = 2 * time.Millisecond, 600 * time.Microsecond, 450 * time.Microsecond
		l := newCommitLog(t, Options{Max: 64, Linger: linger, Gap: gap})
		defer l.w.Close()
		l.makeBusy()
		// Three values 450µs apart, then a lull: committed Gap after the
		// third. Then values every 450µs: cut at Linger.
		t0 := l.since()
		for v := 3; v < 6; v++ {
			l.write(v)
			time.Sleep(every)
		}
		l.wait()
		time.Sleep(10 * time.Millisecond)
		t1 := l.since()
		for v := 10; v < 18; v++ {
			l.write(v)
			time.Sleep(every)
		}
		l.wait()
		want := [][]int{{0}, {1, 2}, {3, 4, 5}, {10, 11, 12, 13, 14}, {15, 16, 17}}
		if fmt.Sprint(l.groups) != fmt.Sprint(want) {
			t.Fatalf("groups %v, want %v", l.groups, want)
		}
		if got, want := l.at[2]-t0, 2*every+gap; got != want {
			t.Errorf("group after a lull committed at %v, want %v", got, want)
		}
		if got := l.at[3] - t1; got != linger {
			t.Errorf("steady group committed at %v, want %v (Linger)", got, linger)
		}
	})
}

// TestLingerIdle: with Idle, a writer stays busy after a group of more
// than one value even when a group of one follows, so values arriving one
// by one between bursts still share commits; Idle after its last group
// of more than one value, a lone value is committed at once again.
func TestLingerIdle(t *testing.T) {
	for _, tt := range []struct {
		name string
		idle time.Duration
		want string
	}{
		{"idle at the first group of one", 0, "[[0] [1 2] [3] [4] [5] [6] [7]]"},
		{"busy for 10ms", 10 * time.Millisecond, "[[0] [1 2] [3] [4 5] [6] [7]]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const linger = time.Millisecond
				l := newCommitLog(t, Options{Max: 8, Linger: linger, Idle: tt.idle})
				defer l.w.Close()
				l.makeBusy()
				// 3 alone: the writer was busy, so it waits Linger for
				// company and commits 3 alone.
				l.write(3)
				l.wait()
				// 4 and 5 half a Linger apart.
				t4 := l.since()
				l.write(4)
				time.Sleep(linger / 2)
				l.write(5)
				l.wait()
				// 6 alone, then 7 alone long after.
				l.write(6)
				l.wait()
				time.Sleep(20 * time.Millisecond)
				t7 := l.since()
				l.write(7)
				l.wait()
				if fmt.Sprint(l.groups) != tt.want {
					t.Fatalf("groups %v, want %s", l.groups, tt.want)
				}
				last := len(l.at) - 1
				if got := l.at[last] - t7; got != 0 {
					t.Errorf("a lone value after a lull committed after %v, want at once", got)
				}
				if tt.idle == 0 {
					if got := l.at[3] - t4; got != 0 {
						t.Errorf("idle writer committed 4 after %v, want at once", got)
					}
					return
				}
				if got := l.at[3] - t4; got != linger {
					t.Errorf("4 and 5 committed %v after 4, want %v (Linger)", got, linger)
				}
			})
		})
	}
}
