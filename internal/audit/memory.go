package audit

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is a Store in memory, for tests: it keeps every event until it
// is pruned.
type Memory struct {
	mu     sync.Mutex
	events []Event // in ID order
	last   int64   // the last ID given; IDs are never reused
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{} }

// Record implements Recorder; it assigns the next ID.
func (m *Memory) Record(_ context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last++
	e.ID = m.last
	e.Targets = slices.Clone(e.Targets)
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
			e := m.events[i]
			e.Targets = slices.Clone(e.Targets)
			out = append(out, e)
		}
	}
	return out, nil
}

// Prune implements Pruner.
func (m *Memory) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := make([]int, 0, limit)
	for i, e := range m.events {
		if e.Time.Before(before) {
			old = append(old, i)
		}
	}
	// Oldest first by time, as a store with a time index would.
	slices.SortStableFunc(old, func(a, b int) int { return m.events[a].Time.Compare(m.events[b].Time) })
	if len(old) > limit {
		old = old[:limit]
	}
	drop := make(map[int]bool, len(old))
	for _, i := range old {
		drop[i] = true
	}
	kept := m.events[:0]
	for i, e := range m.events {
		if !drop[i] {
			kept = append(kept, e)
		}
	}
	clear(m.events[len(kept):])
	m.events = kept
	return len(old), nil
}

// Events returns every recorded event, oldest first.
func (m *Memory) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}
