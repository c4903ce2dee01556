package service

import (
	"context"
	"errors"
	"io"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// Reasons of ErrorInfo of the blacklist sync jobs.
const (
	// ReasonJobNotFound: no blacklist sync job has this id.
	ReasonJobNotFound = "BLACKLIST_SYNC_JOB_NOT_FOUND"
	// ReasonJobFinished: the job already finished (cancel refused).
	ReasonJobFinished = "BLACKLIST_SYNC_JOB_FINISHED"
	// ReasonJobNotFinished: the job is still QUEUED or RUNNING (retry of
	// its failed chunks refused).
	ReasonJobNotFinished = "BLACKLIST_SYNC_JOB_NOT_FINISHED"
	// ReasonJobNoFailedChunks: the job has no failed chunk to retry.
	ReasonJobNoFailedChunks = "BLACKLIST_SYNC_JOB_NO_FAILED_CHUNKS"
	// ReasonJobCancelled: the job was cancelled; its chunks are not sent
	// again.
	ReasonJobCancelled = "BLACKLIST_SYNC_JOB_CANCELLED"
	// ReasonShuttingDown: servicecenterd is stopping; retry elsewhere or later.
	ReasonShuttingDown = "SHUTTING_DOWN"
	// ReasonStoreFull: the store's disk (--data-dir) is full; nothing was
	// stored. RESOURCE_EXHAUSTED without RetryInfo: retrying helps only once
	// an operator has freed space.
	ReasonStoreFull = "STORE_FULL"
)

// storeFullMessage is the message of ReasonStoreFull.
const storeFullMessage = "servicecenterd's store is full (no space left in its data directory): nothing was stored; retry once space has been freed"

// errJobsDisabled: the server was built without a job manager.
var errJobsDisabled = status.Error(codes.Unimplemented, "the bulk blacklist sync is not enabled on this server")

// ImportUserBlacklist reads the settings (first message) and entries of
// an import, stores them, and returns the new job. Entries are validated
// here, one by one, not by the stream's protovalidate interceptor: a rule
// there would fail the whole stream at the first bad entry. The import is
// dropped, leaving no job, when the stream fails.
func (h *Logistics) ImportUserBlacklist(stream grpc.ClientStreamingServer[scv1.ImportUserBlacklistRequest, scv1.ImportUserBlacklistResponse]) error {
	ctx := stream.Context()
	if h.jobs == nil {
		return errJobsDisabled
	}
	msg, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: "settings", Description: "the first message must carry the job's settings", Reason: "import.settings_first"})
	}
	if err != nil {
		return err
	}
	s := msg.GetSettings()
	if s == nil {
		return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: "settings", Description: "the first message must carry the job's settings", Reason: "import.settings_first"})
	}
	im, err := h.jobs.BeginImport(ctx, syncjob.Spec{
		SupplierID: s.GetSupplierId(), OperateType: int(s.GetOperateType()),
		ServiceType: int(s.GetServiceType()), AbilityType: int(s.GetAbilityType()),
	})
	if err != nil {
		return h.fail(ctx, err)
	}
	defer im.Abort(ctx) // nothing after a commit
	var (
		buf     []syncjob.EntryInput
		reasons []int32
	)
	for {
		buf, reasons = buf[:0], reasons[:0]
		for _, e := range msg.GetEntries() {
			start := len(reasons)
			for _, r := range e.GetReason() {
				reasons = append(reasons, int32(r))
			}
			buf = append(buf, syncjob.EntryInput{Mobile: e.GetMobile(), Line: e.GetLine(), Reasons: reasons[start:len(reasons):len(reasons)]})
		}
		if err := im.Add(ctx, buf...); err != nil {
			return h.fail(ctx, err)
		}
		msg, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if msg.GetSettings() != nil {
			return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: "settings", Description: "only the first message may carry settings", Reason: "import.settings_first"})
		}
	}
	res, err := im.Commit(ctx)
	if err != nil {
		return h.fail(ctx, err)
	}
	out := &scv1.ImportUserBlacklistResponse{Job: JobToProto(res.Job), Rejections: rejectionsToProto(res.Rejections)}
	return stream.SendAndClose(out)
}

// rejectionsToProto maps rejected entries (which carry no value: personal
// data never enters a rejection).
func rejectionsToProto(rs []syncjob.Rejection) []*scv1.BlacklistEntryRejection {
	out := make([]*scv1.BlacklistEntryRejection, len(rs))
	for i, r := range rs {
		out[i] = &scv1.BlacklistEntryRejection{Index: r.Index, Line: r.Line, Field: r.Field, Description: r.Description}
	}
	return out
}

// ListRejectedEntries returns a page of a job's rejected entries, in
// import order.
func (h *Logistics) ListRejectedEntries(ctx context.Context, req *scv1.ListRejectedEntriesRequest) (*scv1.ListRejectedEntriesResponse, error) {
	if h.jobs == nil {
		return nil, errJobsDisabled
	}
	page, err := h.jobs.ListRejections(ctx, syncjob.RejectionQuery{JobID: req.GetJobId(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &scv1.ListRejectedEntriesResponse{Rejections: rejectionsToProto(page.Rejections), NextPageToken: page.NextPageToken}, nil
}

// GetBlacklistSyncJob returns a job.
func (h *Logistics) GetBlacklistSyncJob(ctx context.Context, req *scv1.GetBlacklistSyncJobRequest) (*scv1.GetBlacklistSyncJobResponse, error) {
	if h.jobs == nil {
		return nil, errJobsDisabled
	}
	j, err := h.jobs.Job(ctx, req.GetJobId())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &scv1.GetBlacklistSyncJobResponse{Job: JobToProto(j)}, nil
}

// ListBlacklistSyncJobs returns a page of jobs, newest first.
func (h *Logistics) ListBlacklistSyncJobs(ctx context.Context, req *scv1.ListBlacklistSyncJobsRequest) (*scv1.ListBlacklistSyncJobsResponse, error) {
	if h.jobs == nil {
		return nil, errJobsDisabled
	}
	q := syncjob.JobQuery{SupplierID: req.GetSupplierId(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}
	if st := req.GetState(); st != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_UNSPECIFIED {
		q.States = []syncjob.State{stateFromProto(st)}
	}
	page, err := h.jobs.ListJobs(ctx, q)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	out := &scv1.ListBlacklistSyncJobsResponse{NextPageToken: page.NextPageToken, Jobs: make([]*scv1.BlacklistSyncJob, len(page.Jobs))}
	for i, j := range page.Jobs {
		out.Jobs[i] = JobToProto(j)
	}
	return out, nil
}

// CancelBlacklistSyncJob cancels a job that has not finished.
func (h *Logistics) CancelBlacklistSyncJob(ctx context.Context, req *scv1.CancelBlacklistSyncJobRequest) (*scv1.CancelBlacklistSyncJobResponse, error) {
	if h.jobs == nil {
		return nil, errJobsDisabled
	}
	j, err := h.jobs.Cancel(ctx, req.GetJobId())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &scv1.CancelBlacklistSyncJobResponse{Job: JobToProto(j)}, nil
}

// RetryFailedChunks sends a FAILED job's failed chunks again.
func (h *Logistics) RetryFailedChunks(ctx context.Context, req *scv1.RetryFailedChunksRequest) (*scv1.RetryFailedChunksResponse, error) {
	if h.jobs == nil {
		return nil, errJobsDisabled
	}
	j, n, err := h.jobs.RetryFailedChunks(ctx, req.GetJobId())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &scv1.RetryFailedChunksResponse{Job: JobToProto(j), ChunksQueued: int64(n)}, nil
}

// WatchBlacklistSyncJob streams a job's progress until it finishes.
func (h *Logistics) WatchBlacklistSyncJob(req *scv1.WatchBlacklistSyncJobRequest, stream grpc.ServerStreamingServer[scv1.WatchBlacklistSyncJobResponse]) error {
	ctx := stream.Context()
	if h.jobs == nil {
		return errJobsDisabled
	}
	err := h.jobs.Watch(ctx, req.GetJobId(), func(j syncjob.Job) error {
		return stream.Send(&scv1.WatchBlacklistSyncJobResponse{Job: JobToProto(j)})
	})
	if err != nil {
		return h.fail(ctx, err)
	}
	return nil
}

// JobToProto converts a job for the API.
func JobToProto(j syncjob.Job) *scv1.BlacklistSyncJob {
	out := &scv1.BlacklistSyncJob{
		JobId: j.ID,
		Settings: &scv1.BlacklistSyncJobSettings{
			SupplierId:  j.SupplierID,
			OperateType: scv1.OperateType(j.OperateType),
			ServiceType: scv1.BlacklistServiceType(j.ServiceType),
			AbilityType: scv1.BlacklistAbilityType(j.AbilityType),
		},
		State:             stateToProto(j.State),
		ReceivedCount:     j.Received,
		RejectedCount:     j.Rejected,
		DuplicateCount:    j.Duplicates,
		TotalCount:        j.Total,
		SentCount:         j.Sent,
		AcknowledgedCount: j.Acknowledged,
		FailedCount:       j.Failed,
		ChunkSize:         int32(j.ChunkSize),
		ChunkCount:        j.Chunks,
		CreateTime:        timestamppb.New(j.Created),
		UpdateTime:        timestamppb.New(j.Updated),
	}
	if e := j.LastError; e != nil {
		out.LastError = &scv1.BlacklistSyncJobError{
			Chunk: e.Chunk, Code: e.Code, SubCode: e.SubCode, Message: e.Message,
			TopRequestId: e.TOPRequestID, Final: e.Final, Time: timestamppb.New(e.Time),
		}
	}
	return out
}

func stateToProto(s syncjob.State) scv1.BlacklistSyncJobState {
	switch s {
	case syncjob.StateQueued:
		return scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_QUEUED
	case syncjob.StateRunning:
		return scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_RUNNING
	case syncjob.StateSucceeded:
		return scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED
	case syncjob.StateFailed:
		return scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_FAILED
	case syncjob.StateCancelled:
		return scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_CANCELLED
	}
	return scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_UNSPECIFIED
}

func stateFromProto(s scv1.BlacklistSyncJobState) syncjob.State {
	switch s {
	case scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_QUEUED:
		return syncjob.StateQueued
	case scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_RUNNING:
		return syncjob.StateRunning
	case scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED:
		return syncjob.StateSucceeded
	case scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_FAILED:
		return syncjob.StateFailed
	case scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_CANCELLED:
		return syncjob.StateCancelled
	}
	return 0
}

// jobStatus maps the errors of the blacklist sync jobs (called by
// Status); it reports false for other errors.
func jobStatus(err error) (error, bool) {
	var (
		noValid *syncjob.NoValidEntriesError
		spec    *syncjob.SpecError
	)
	switch {
	case errors.Is(err, syncjob.ErrFull):
		// Not UNAVAILABLE, which clients and retry policies resend at once:
		// the disk stays full until an operator frees space.
		return withInfo(codes.ResourceExhausted, storeFullMessage, ReasonStoreFull, nil), true
	case errors.Is(err, syncjob.ErrJobNotFound):
		return withInfo(codes.NotFound, "blacklist sync job not found", ReasonJobNotFound, nil), true
	case errors.Is(err, syncjob.ErrJobFinished):
		return withInfo(codes.FailedPrecondition, "blacklist sync job already finished", ReasonJobFinished, nil), true
	case errors.Is(err, syncjob.ErrJobNotFinished):
		return withInfo(codes.FailedPrecondition, "blacklist sync job not finished yet: retry its failed chunks once it has ended", ReasonJobNotFinished, nil), true
	case errors.Is(err, syncjob.ErrNoFailedChunks):
		return withInfo(codes.FailedPrecondition, "blacklist sync job has no failed chunks to retry", ReasonJobNoFailedChunks, nil), true
	case errors.Is(err, syncjob.ErrJobCancelled):
		return withInfo(codes.FailedPrecondition, "blacklist sync job was cancelled: its chunks are not sent again; import the entries again", ReasonJobCancelled, nil), true
	case errors.Is(err, syncjob.ErrStopped):
		return withInfo(codes.Unavailable, "servicecenterd is shutting down", ReasonShuttingDown, nil), true
	case errors.Is(err, syncjob.ErrBadPageToken):
		return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: "page_token", Description: "is not a token this server made", Reason: "page_token.invalid"}), true
	case errors.Is(err, syncjob.ErrNoEntries):
		return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: "entries", Description: "the import has no entries", Reason: "import.no_entries"}), true
	case errors.As(err, &spec):
		return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: "settings." + spec.Field, Description: spec.Problem}), true
	case errors.As(err, &noValid):
		vs := make([]*errdetails.BadRequest_FieldViolation, 0, len(noValid.Rejections))
		for _, r := range noValid.Rejections {
			desc := r.Description
			if r.Line > 0 {
				desc += " (line " + strconv.FormatInt(r.Line, 10) + ")"
			}
			vs = append(vs, &errdetails.BadRequest_FieldViolation{
				Field: "entries[" + strconv.FormatInt(r.Index, 10) + "]." + r.Field, Description: desc, Reason: "import.entry_invalid",
			})
		}
		msg := noValid.Error()
		if len(vs) > 0 {
			msg += "; first: " + vs[0].GetField() + ": " + vs[0].GetDescription()
		}
		return attach(status.New(codes.InvalidArgument, msg), &errdetails.BadRequest{FieldViolations: vs}), true
	}
	return nil, false
}
