package audit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// recordWindow is how long the events recorded one after the other share
// one deadline (see deadlines).
const recordWindow = time.Second

// deadlines bounds the recordings: rather than a timer per event (a
// context.WithTimeout per call was a tenth of the audit interceptor's own
// cost), the events recorded within one window share a context whose
// deadline is timeout+window after the window opened, so that each event
// has between timeout and timeout+window to be recorded.
type deadlines struct {
	timeout, window time.Duration
	mu              sync.Mutex // held to open a window
	cur             atomic.Pointer[deadline]
}

// deadline is one window's shared context.
type deadline struct {
	ctx    context.Context
	cancel context.CancelFunc // its timer releases it; kept for vet
	closes time.Time          // when the window closes (monotonic)
}

func newDeadlines(timeout, window time.Duration) *deadlines {
	return &deadlines{timeout: timeout, window: window}
}

// bound returns the shared context of the current window.
func (d *deadlines) bound() context.Context {
	now := time.Now()
	if c := d.cur.Load(); c != nil && now.Before(c.closes) {
		return c.ctx
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.cur.Load(); c != nil && now.Before(c.closes) {
		return c.ctx
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout+d.window)
	d.cur.Store(&deadline{ctx: ctx, cancel: cancel, closes: now.Add(d.window)})
	return ctx
}

// recordContext is the context of one recording: the values of the
// call's context (the trace id, the call's rpc.Call), not its
// cancellation (the caller may have gone away: the event is recorded
// anyway), and the window's deadline.
func (d *deadlines) recordContext(call context.Context) context.Context {
	return recordCtx{Context: context.WithoutCancel(call), bound: d.bound()}
}

// recordCtx is recordContext's context.
type recordCtx struct {
	context.Context
	bound context.Context
}

func (c recordCtx) Deadline() (time.Time, bool) { return c.bound.Deadline() }
func (c recordCtx) Done() <-chan struct{}       { return c.bound.Done() }
func (c recordCtx) Err() error                  { return c.bound.Err() }

// AfterFunc lets a context derived from c (context.WithCancel in a
// store's driver) follow the deadline without a goroutine of its own.
func (c recordCtx) AfterFunc(f func()) (stop func() bool) { return context.AfterFunc(c.bound, f) }
