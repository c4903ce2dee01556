// Package groupcommit commits concurrent writes in groups: each Write
// hands its value to one writer goroutine and waits until the commit
// holding it is done, while the values of concurrent calls share one
// commit (one transaction, one lock round trip, one log flush) instead of
// one each. The audit trails of both stores use it: every audited call
// writes an event, and under load those writes arrive together.
package groupcommit

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed answers a Write that arrives once the writer is closed.
var ErrClosed = errors.New("store is closed")

// Writer commits values of type T in groups of at most max.
type Writer[T any] struct {
	commit  func([]T) error
	max     int
	queue   chan write[T] // unbuffered: a value is taken only by a running writer
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

type write[T any] struct {
	v    T
	done chan error // buffered: the writer never waits for a caller
}

// New starts a writer that commits groups with commit. commit gets the
// values in the order they were taken; it is called from one goroutine
// at a time, and its error is every value's of the group.
func New[T any](max int, commit func([]T) error) *Writer[T] {
	w := &Writer[T]{commit: commit, max: max, queue: make(chan write[T]), stop: make(chan struct{}), stopped: make(chan struct{})}
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
	group := make([]write[T], 0, w.max)
	values := make([]T, 0, w.max)
	for {
		select {
		case first := <-w.queue:
			group = append(group[:0], first)
		case <-w.stop:
			return
		}
	more:
		for len(group) < w.max {
			select {
			case next := <-w.queue:
				group = append(group, next)
			default:
				break more
			}
		}
		values = values[:0]
		for _, g := range group {
			values = append(values, g.v)
		}
		err := w.commit(values)
		for _, g := range group {
			g.done <- err
		}
	}
}

// Close stops the writer after the group it is committing, if any; later
// writes answer ErrClosed. It may be called more than once.
func (w *Writer[T]) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.stopped
}
