package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
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
