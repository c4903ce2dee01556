package syncjob

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerName is the instrumentation scope of the chunk spans.
const TracerName = "github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"

// Attributes of a chunk delivery's span: ids and counts, never entries.
const (
	// AttrJob is the job's id: the spans of one job's chunks share it.
	AttrJob = attribute.Key("blacklist.job_id")
	// AttrChunk is the chunk's number in the job.
	AttrChunk = attribute.Key("blacklist.chunk")
	// AttrEntries is how many entries the chunk holds.
	AttrEntries = attribute.Key("blacklist.entries")
	// AttrSends is how many times the chunk was sent (one TOP call each,
	// whose attempts are the spans under this one).
	AttrSends = attribute.Key("blacklist.sends")
	// AttrOutcome is the last send's outcome: acknowledged, failed,
	// retry or banned.
	AttrOutcome = attribute.Key("blacklist.outcome")
)

var outcomeNames = map[outcomeKind]string{
	outcomeAcknowledged: "acknowledged", outcomeFailed: "failed", outcomeRetry: "retry", outcomeBanned: "banned",
}

// chunkSpan starts the span of chunk n's delivery: the root of a trace of
// its own (a delivery runs in the background, apart from the call that
// imported the job), linked to the other chunks of the job by the job id
// attribute. The TOP client's attempt spans go under it. Without a
// TracerProvider it is a no-op span and ctx is unchanged.
func (m *Manager) chunkSpan(ctx context.Context, j Job, n int64, entries int) (context.Context, trace.Span) {
	if m.cfg.TracerProvider == nil {
		return ctx, noop.Span{}
	}
	return m.cfg.TracerProvider.Tracer(TracerName).Start(ctx, "blacklist chunk",
		trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrJob.String(j.ID), AttrChunk.Int64(n), AttrEntries.Int(entries)))
}

// chunkOutcome notes on span the outcome of send number sends.
func chunkOutcome(span trace.Span, sends int, out outcome) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrSends.Int(sends), AttrOutcome.String(outcomeNames[out.kind]))
	if out.kind == outcomeFailed {
		span.SetStatus(codes.Error, "refused by TOP: "+out.err.Code)
	}
}
