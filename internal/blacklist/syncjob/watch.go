package syncjob

import (
	"context"
	"time"
)

// Watch calls send with the job now, then after each change (at most once
// per WatchInterval; a change made on another replica is seen within
// WatchPoll, when Watch reads the store again), until the job finishes (the last call carries its
// final state), ctx ends, send fails, or the manager stops (ErrStopped).
func (m *Manager) Watch(ctx context.Context, id string, send func(Job) error) error {
	var last Job
	for first := true; ; first = false {
		// Take the change channel before reading, so that no change
		// between the read and the wait is missed.
		changed, release := m.changes(id)
		j, err := m.Job(ctx, id)
		if err != nil {
			release()
			return err
		}
		if first || progressed(last, j) {
			if err := send(j); err != nil {
				release()
				return err
			}
			last = j
		}
		if j.State.Terminal() {
			release()
			return nil
		}
		err = m.wait(ctx, changed)
		release()
		if err != nil {
			return err
		}
		if err := m.pause(ctx); err != nil {
			return err
		}
	}
}

// wait waits for ch, WatchPoll, ctx or the manager's stop.
func (m *Manager) wait(ctx context.Context, ch <-chan struct{}) error {
	poll := time.NewTimer(m.cfg.WatchPoll)
	defer poll.Stop()
	select {
	case <-ch:
		return nil
	case <-poll.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stopped:
		return ErrStopped
	}
}

// pause waits WatchInterval, ctx or the manager's stop.
func (m *Manager) pause(ctx context.Context) error {
	t := time.NewTimer(m.cfg.WatchInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stopped:
		return ErrStopped
	}
}

// progressed reports whether b differs from a in what a watcher sees.
func progressed(a, b Job) bool {
	return a.State != b.State || !a.Updated.Equal(b.Updated) || a.Sent != b.Sent ||
		a.Acknowledged != b.Acknowledged || a.Failed != b.Failed || (a.LastError == nil) != (b.LastError == nil)
}
