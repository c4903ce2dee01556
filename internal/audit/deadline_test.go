package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// TestRecordContext: a recording keeps the call's values, not its
// cancellation, and ends between timeout and timeout+window after it
// began; contexts derived from it end with it.
func TestRecordContext(t *testing.T) {
	d := newDeadlines(80*time.Millisecond, 40*time.Millisecond)
	call, cancelCall := context.WithCancel(rpc.WithCall(context.Background(), &rpc.Call{RequestID: "r1"}))
	cancelCall() // the caller went away
	start := time.Now()
	ctx := d.recordContext(call)
	if rpc.CallFrom(ctx).RequestID != "r1" {
		t.Fatal("the call's values are lost")
	}
	if ctx.Err() != nil {
		t.Fatalf("the call's cancellation reached the recording: %v", ctx.Err())
	}
	dl, ok := ctx.Deadline()
	if !ok || dl.Before(start.Add(80*time.Millisecond)) || dl.After(start.Add(125*time.Millisecond)) {
		t.Fatalf("deadline %v after start, want 80-120ms", dl.Sub(start))
	}
	if other := d.recordContext(context.Background()); other.(recordCtx).bound != ctx.(recordCtx).bound {
		t.Fatal("two recordings in one window do not share the deadline")
	}
	derived, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case <-derived.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a derived context did not end with the deadline")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(derived.Err(), context.DeadlineExceeded) {
		t.Fatalf("errors %v, %v", ctx.Err(), derived.Err())
	}
	if elapsed := time.Since(start); elapsed < 80*time.Millisecond {
		t.Fatalf("ended after %v, before the timeout", elapsed)
	}
	// A new window: a fresh deadline.
	time.Sleep(50 * time.Millisecond)
	next := d.recordContext(context.Background())
	if next.Err() != nil {
		t.Fatalf("the next window's context is over: %v", next.Err())
	}
	if dl2, _ := next.Deadline(); !dl2.After(dl) {
		t.Fatalf("next deadline %v not after %v", dl2, dl)
	}
}
