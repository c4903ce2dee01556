package syncjob

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

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
