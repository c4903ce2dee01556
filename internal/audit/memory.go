package audit

import (
	"context"
	"sync"
)

// Memory is a Store in memory, for tests: it keeps every event until it
// is dropped.
type Memory struct {
	mu     sync.Mutex
	events []Event // in ID order
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{} }

// Record implements Recorder; it assigns the next ID.
func (m *Memory) Record(_ context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = int64(len(m.events) + 1)
	e.Targets = append([]Target(nil), e.Targets...)
	m.events = append(m.events, e)
	return nil
}

// List implements Lister.
func (m *Memory) List(ctx context.Context, q Query) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for i := len(m.events) - 1; i >= 0 && len(out) < q.Limit; i-- {
		if q.Match(m.events[i]) {
			out = append(out, m.events[i])
		}
	}
	return out, nil
}

// Events returns every recorded event, oldest first.
func (m *Memory) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.events...)
}
