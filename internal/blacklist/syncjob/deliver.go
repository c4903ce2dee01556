package syncjob

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// runJob delivers every chunk of a job that is not finished yet, up to
// ChunksInFlight at a time, then records the job's end. It returns early,
// leaving the job to the next run, when ctx ends.
func (m *Manager) runJob(ctx context.Context, id string) {
	j, err := m.store.UpdateJob(ctx, id, JobUpdate{
		From: []State{StateQueued, StateRunning}, State: StateRunning, Time: m.now(),
	})
	if err != nil {
		if !errors.Is(err, ErrStateConflict) && ctx.Err() == nil {
			m.logger.Error("start blacklist sync job", slog.String("job_id", id), slog.String("error", err.Error()))
		}
		return
	}
	m.logger.Info("blacklist sync job running", slog.String("job_id", id), slog.Int64("chunks", j.Chunks),
		slog.Int64("acknowledged", j.Acknowledged), slog.Int64("failed", j.Failed))
	m.changedJob(j)
	m.emit(Event{Kind: EventJobStarted, Job: j, Chunk: -1})

	slots := make(chan struct{}, m.cfg.ChunksInFlight)
	var wg sync.WaitGroup
	for n := int64(0); n < j.Chunks; n++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			m.deliver(ctx, j, n)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // cancelled (the state says so) or shutting down (resumed at the next start)
	}
	m.finishJob(ctx, id)
}

// finishJob records the end of a job whose chunks are all finished.
func (m *Manager) finishJob(ctx context.Context, id string) {
	for attempt := 0; ; attempt++ {
		j, err := m.store.Job(ctx, id)
		if err == nil {
			state := StateSucceeded
			if j.Failed > 0 || j.Acknowledged != j.Total {
				state = StateFailed
			}
			j, err = m.store.UpdateJob(ctx, id, JobUpdate{From: []State{StateRunning}, State: state, Time: m.now()})
			if errors.Is(err, ErrStateConflict) {
				return // cancelled meanwhile
			}
			if err == nil {
				m.logger.Info("blacklist sync job finished", slog.String("job_id", id), slog.String("state", j.State.String()),
					slog.Int64("acknowledged", j.Acknowledged), slog.Int64("failed", j.Failed))
				m.changedJob(j)
				m.emit(Event{Kind: EventJobFinished, Job: j, Chunk: -1})
				return
			}
		}
		if !m.storeRetry(ctx, "finish job", id, attempt, err) {
			return
		}
	}
}

// storeRetry logs a store failure and waits before the next attempt; it
// reports false when ctx ended.
func (m *Manager) storeRetry(ctx context.Context, what, id string, attempt int, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	m.logger.Error("blacklist sync: store failed; retrying", slog.String("op", what), slog.String("job_id", id),
		slog.String("error", err.Error()))
	return backoff.Wait(ctx, m.backoff(attempt)) == nil
}

// deliver sends chunk n of j until TOP acknowledges or refuses it for
// good, or ctx ends.
func (m *Manager) deliver(ctx context.Context, j Job, n int64) {
	var prev ChunkState
	for attempt := 0; ; attempt++ {
		var err error
		if prev, err = m.store.BeginChunk(ctx, j.ID, n, m.now()); err == nil {
			break
		}
		if !m.storeRetry(ctx, "begin chunk", j.ID, attempt, err) {
			return
		}
	}
	if prev == ChunkAcknowledged || prev == ChunkFailed {
		return
	}
	var entries []Entry
	for attempt := 0; ; attempt++ {
		var err error
		if entries, err = m.store.ChunkEntries(ctx, j.ID, n, make([]Entry, 0, j.ChunkSize)); err == nil {
			break
		}
		if !m.storeRetry(ctx, "read chunk", j.ID, attempt, err) {
			return
		}
	}
	req := chunkRequest(j, n, entries)
	ctx, span := m.chunkSpan(ctx, j, n, len(entries))
	defer span.End()
	for attempt := 0; ; attempt++ {
		req.UserBlacklistRequest.RequestTime = top.Int64(m.now().UnixMilli())
		resp, err := top.Do(ctx, m.top, top.BlacklistSync, req)
		if ctx.Err() != nil {
			return
		}
		out := classify(resp, err)
		out.err.Chunk, out.err.Time = n, m.now()
		chunkOutcome(span, attempt+1, out)
		switch out.kind {
		case outcomeAcknowledged, outcomeFailed:
			m.finishChunk(ctx, j.ID, n, out)
			return
		case outcomeBanned, outcomeRetry:
			wait := m.backoff(attempt)
			if out.kind == outcomeBanned {
				wait = out.wait + time.Duration(rand.Int64N(int64(100*time.Millisecond)))
			}
			m.retrying(ctx, j.ID, out.err, wait)
			if backoff.Wait(ctx, wait) != nil {
				return
			}
		}
	}
}

// finishChunk records a chunk's outcome, retrying store failures.
func (m *Manager) finishChunk(ctx context.Context, id string, n int64, out outcome) {
	r := ChunkResult{State: ChunkAcknowledged, TOPRequestID: out.err.TOPRequestID, Time: out.err.Time}
	kind := EventChunkAcknowledged
	if out.kind == outcomeFailed {
		r.State, r.Code, r.SubCode, r.Message = ChunkFailed, out.err.Code, out.err.SubCode, out.err.Message
		kind = EventChunkFailed
	}
	for attempt := 0; ; attempt++ {
		j, err := m.store.FinishChunk(ctx, id, n, r)
		if err == nil {
			if out.kind == outcomeFailed {
				e := out.err
				e.Final = true
				m.logger.Warn("blacklist chunk refused by TOP", slog.String("job_id", id), slog.Int64("chunk", n),
					slog.String("code", e.Code), slog.String("sub_code", e.SubCode), slog.String("message", e.Message))
				m.emit(Event{Kind: kind, Job: j, Chunk: n, Error: &e})
			} else {
				m.emit(Event{Kind: kind, Job: j, Chunk: n})
			}
			m.changedJob(j)
			return
		}
		if !m.storeRetry(ctx, "finish chunk", id, attempt, err) {
			return
		}
	}
}

// retrying records a transient failure as the job's last error.
func (m *Manager) retrying(ctx context.Context, id string, e JobError, wait time.Duration) {
	m.logger.Warn("blacklist chunk failed; will resend", slog.String("job_id", id), slog.Int64("chunk", e.Chunk),
		slog.String("code", e.Code), slog.String("sub_code", e.SubCode), slog.String("message", e.Message),
		slog.Duration("wait", wait))
	j, err := m.store.UpdateJob(ctx, id, JobUpdate{From: []State{StateRunning}, Error: &e, Time: m.now()})
	if err != nil {
		if !errors.Is(err, ErrStateConflict) && ctx.Err() == nil {
			m.logger.Error("record blacklist chunk failure", slog.String("job_id", id), slog.String("error", err.Error()))
		}
		return
	}
	m.changedJob(j)
	m.emit(Event{Kind: EventChunkRetrying, Job: j, Chunk: e.Chunk, Error: &e})
}

// backoff is the wait before resend attempt+1 (attempt 0 is the first
// resend): equal jitter, a random time in [d/2, d] with d =
// min(RetryMax, RetryBase·2^attempt). The resends have no limit, so each
// keeps at least half its delay (internal/backoff).
func (m *Manager) backoff(attempt int) time.Duration {
	return backoff.Policy{Base: m.cfg.RetryBase, Max: m.cfg.RetryMax, Jitter: backoff.Equal}.Delay(attempt + 1)
}

// chunkRequest is the TOP call of chunk n: request_id RequestID(job, n),
// and always the same payload (entries in order, reasons ascending).
func chunkRequest(j Job, n int64, entries []Entry) *top.BlacklistSyncRequest {
	u := &top.UserBlacklistRequest{
		RequestID:   RequestID(j.ID, n),
		SupplierID:  j.SupplierID,
		ServiceType: strconv.Itoa(j.ServiceType),
		AbilityType: strconv.Itoa(j.AbilityType),
		OperateType: top.Int64(j.OperateType),
		Blacklist:   make([]top.Blacklist, len(entries)),
	}
	for i, e := range entries {
		u.Blacklist[i] = top.Blacklist{Mobile: e.Mobile, Reason: ReasonText(e.Reasons)}
	}
	return &top.BlacklistSyncRequest{UserBlacklistRequest: u}
}

// ReasonText writes a reason bit set as TOP's comma list, ascending
// ("1,3"); "" for none.
func ReasonText(set uint8) string {
	var b strings.Builder
	for r := 1; r <= 5; r++ {
		if set&(1<<r) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteByte(byte('0' + r))
		}
	}
	return b.String()
}

// Reasons lists the reasons of a bit set, ascending.
func Reasons(set uint8) []int32 {
	var out []int32
	for r := int32(1); r <= 5; r++ {
		if set&(1<<r) != 0 {
			out = append(out, r)
		}
	}
	return out
}

type outcomeKind int

const (
	outcomeAcknowledged outcomeKind = iota
	outcomeFailed                   // refused for good
	outcomeRetry                    // transient: resend after a backoff
	outcomeBanned                   // quota ban: resend when it ends
)

type outcome struct {
	kind outcomeKind
	err  JobError
	wait time.Duration
}

// classify turns a TOP answer into what to do with the chunk (see the
// package comment), as top's taxonomy says: a failure that may never be
// repeated fails the chunk, a quota ban waits for its end, anything else
// (and an error that is not TOP's) is resent after a backoff.
func classify(resp *top.BlacklistSyncResponse, err error) outcome {
	if err == nil {
		if err = resp.Err(); err == nil {
			return outcome{kind: outcomeAcknowledged, err: JobError{TOPRequestID: resp.RequestID}}
		}
	}
	f, ok := top.FailureOf(err)
	if !ok {
		return outcome{kind: outcomeRetry, err: JobError{Message: redact.Text(err.Error())}}
	}
	out := outcome{kind: outcomeRetry, err: JobError{Message: f.Err.Error(), TOPRequestID: f.RequestID}}
	switch {
	case f.Business != nil:
		out.err.Code, out.err.Message = f.Business.Code, redact.Text(f.Business.Message)
	case f.Platform != nil:
		r := f.Platform
		out.err.Code, out.err.SubCode = strconv.Itoa(r.Code), r.SubCode
		if f.Repeat != top.RepeatAfterBan {
			out.err.Message = redact.Text(apiMessage(r))
		}
	}
	switch f.Repeat {
	case top.RepeatNever:
		out.kind = outcomeFailed
	case top.RepeatAfterBan:
		out.kind, out.wait = outcomeBanned, f.RetryAfter
	}
	return out
}

// apiMessage is error_response's msg and sub_msg.
func apiMessage(r *top.ErrorResponse) string {
	if r.SubMsg == "" {
		return r.Msg
	}
	if r.Msg == "" {
		return r.SubMsg
	}
	return r.Msg + ": " + r.SubMsg
}
