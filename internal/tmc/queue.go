package tmc

import (
	"context"
	"sync"
)

// item is one received data message on its way to the Handler; err is set
// when the frame could not be read into a Message (it is then reported as
// failed).
type item struct {
	msg Message
	err error
}

// queue hands messages from a connection's reader to its dispatcher. It
// is unbounded so that the reader keeps reading (and so answering pings)
// while the Handler is slow; the channel bounds what it sends.
type queue struct {
	mu     sync.Mutex
	items  []item
	notify chan struct{}
}

func newQueue() *queue { return &queue{notify: make(chan struct{}, 1)} }

func (q *queue) push(it item) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// pop returns the oldest item, waiting for one until ctx ends.
func (q *queue) pop(ctx context.Context) (item, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = item{}
			q.items = q.items[1:]
			q.mu.Unlock()
			return it, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return item{}, false
		case <-q.notify:
		}
	}
}

// drop empties the queue and returns how many items it held.
func (q *queue) drop() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	q.items = nil
	return n
}
