// Package groupcommit commits concurrent writes in groups: each Write
// hands its value to one writer goroutine and waits until the commit
// holding it is done, while the values of concurrent calls share one
// commit (one transaction, one lock round trip, one log flush) instead of
// one each. The audit trails of both stores use it: every audited call
// writes an event, and under load those writes arrive together.
//
// Under load the values of concurrent calls rarely arrive at the same
// instant: at thousands of calls a second they come one every few hundred
// microseconds, so a writer that commits what is ready would mostly commit
// groups of one, each paying its own log writes. With Linger, a writer
// that is busy (its last group had more than one value) waits for more
// values while they keep coming, each within Gap of the last, up to
// Linger after a group's first value; a writer that is not busy (a lone
// caller, calls one after the other) never waits, so an isolated call
// pays nothing for it, and a lull ends the wait after Gap.
//
// Under a closed loop of many callers values come in bursts: the callers
// a commit releases call again together, and between the bursts values
// come one by one. A writer that became idle at its first group of one
// committed those one by one (at 64 callers, three commits in four held a
// single value, a fifth of the values; each paid a whole commit). With
// Idle, a writer stays busy for that long after its last group of more
// than one value, so the values between bursts wait for company too.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed answers a Write that arrives once the writer is closed.
var ErrClosed = errors.New("store is closed")

// Options are a Writer's settings.
type Options struct {
	// Max bounds the values of one group; at least 1.
	Max int
	// Linger is how long a busy writer waits at most, after a group's
	// first value, for more values to join it; 0 never waits.
	Linger time.Duration
	// Gap ends the wait early when no value came for this long; 0 or
	// more than Linger is Linger.
	Gap time.Duration
	// Idle is how long a writer stays busy after it took a group of more
	// than one value; 0 makes it idle at its first group of one.
	Idle time.Duration
}

// Writer commits values of type T in groups of at most Options.Max.
type Writer[T any] struct {
	commit  func([]T) error
	opts    Options
	queue   chan write[T] // unbuffered: a value is taken only by a running writer
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

type write[T any] struct {
	v    T
	done chan error // buffered: the writer never waits for a caller
}

// New starts a writer that commits groups of at most max with commit,
// without lingering. commit gets the values in the order they were taken;
// it is called from one goroutine at a time, and its error is every
// value's of the group.
func New[T any](max int, commit func([]T) error) *Writer[T] {
	return NewWithOptions(Options{Max: max}, commit)
}

// NewWithOptions is New with every setting.
func NewWithOptions[T any](o Options, commit func([]T) error) *Writer[T] {
	if o.Max < 1 {
		o.Max = 1
	}
	if o.Gap <= 0 || o.Gap > o.Linger {
		o.Gap = o.Linger
	}
	w := &Writer[T]{commit: commit, opts: o, queue: make(chan write[T]), stop: make(chan struct{}), stopped: make(chan struct{})}
	go w.run()
	return w
}

// Write commits v in the next group and returns the group's error. When
// ctx ends first it returns ctx's error; v may still be committed.
func (w *Writer[T]) Write(ctx context.Context, v T) error {
	done := make(chan error, 1)
	select {
	case w.queue <- write[T]{v: v, done: done}:
	case <-w.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer[T]) run() {
	defer close(w.stopped)
	group := make([]write[T], 0, w.opts.Max)
	values := make([]T, 0, w.opts.Max)
	var timer *time.Timer
	if w.opts.Linger > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
	}
	busy := false           // the last group had more than one value
	var busyUntil time.Time // and the writer stays busy until then (Idle)
	for {
		select {
		case first := <-w.queue:
			group = append(group[:0], first)
		case <-w.stop:
			return
		}
		w.take(&group)
		if !busy && w.opts.Idle > 0 {
			busy = time.Now().Before(busyUntil)
		}
		if busy && timer != nil && len(group) < w.opts.Max {
			deadline := time.Now().Add(w.opts.Linger)
			timer.Reset(w.opts.Gap)
		linger:
			for len(group) < w.opts.Max {
				select {
				case next := <-w.queue:
					group = append(group, next)
					wait := min(w.opts.Gap, time.Until(deadline))
					if wait <= 0 {
						break linger
					}
					timer.Reset(wait)
				case <-timer.C:
					break linger
				case <-w.stop:
					break linger // commit what was taken, then stop
				}
			}
			timer.Stop()
		}
		busy = len(group) > 1
		if busy && w.opts.Idle > 0 {
			busyUntil = time.Now().Add(w.opts.Idle)
		}
		values = values[:0]
		for _, g := range group {
			values = append(values, g.v)
		}
		err := w.commit(values)
		clear(values) // drop references to committed values
		for _, g := range group {
			g.done <- err
		}
		clear(group)
	}
}

// take adds the values that are ready now to group, up to Options.Max.
func (w *Writer[T]) take(group *[]write[T]) {
	for len(*group) < w.opts.Max {
		select {
		case next := <-w.queue:
			*group = append(*group, next)
		default:
			return
		}
	}
}

// Close stops the writer after the group it is committing, if any; later
// writes answer ErrClosed. It may be called more than once.
func (w *Writer[T]) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.stopped
}
