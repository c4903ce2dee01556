package syncjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/mainland"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Spec is what a job is imported with.
type Spec struct {
	// SupplierID is TOP's supplier_id (required, at most 64 characters).
	SupplierID string
	// OperateType is TOP's operate_type: 1 add or update, 2 delete.
	OperateType int
	// ServiceType and AbilityType are TOP's service_type and ability_type;
	// 0 means "1", door-to-door pickup, TOP's only documented value.
	ServiceType, AbilityType int
}

// EntryInput is one entry as the caller sent it.
type EntryInput struct {
	// Mobile is the user's mobile number.
	Mobile string
	// Reasons are TOP's reason numbers (1 to 5), each at most once.
	Reasons []int32
	// Line is where the entry came from in the caller's file (1-based), 0
	// if unknown; reported in its rejection.
	Line int64
}

// Rejection is an entry refused as invalid.
type Rejection struct {
	// Index is the entry's position in the import, from 0.
	Index int64
	// Line is the entry's EntryInput.Line.
	Line int64
	// Field is what is wrong: "mobile", or "reason" / "reason[i]".
	Field string
	// Description says why, without the value (personal data).
	Description string
}

// String is "entry 3 (line 5): mobile: must be ...".
func (r Rejection) String() string {
	s := "entry " + strconv.FormatInt(r.Index, 10)
	if r.Line > 0 {
		s += " (line " + strconv.FormatInt(r.Line, 10) + ")"
	}
	return s + ": " + r.Field + ": " + r.Description
}

// NoValidEntriesError is the failure of an import whose entries were all
// rejected; no job is created.
type NoValidEntriesError struct {
	// Rejected counts the entries.
	Rejected int64
	// Rejections lists the first MaxRejections.
	Rejections []Rejection
}

// Error implements error.
func (e *NoValidEntriesError) Error() string {
	return "no valid entries: all " + strconv.FormatInt(e.Rejected, 10) + " were rejected"
}

// Result is a committed import.
type Result struct {
	// Job is the new job, QUEUED.
	Job Job
	// Rejections lists the first MaxRejections rejected entries; the job's
	// Rejected counter counts them all, and Manager.ListRejections lists
	// them all.
	Rejections []Rejection
}

// Messages of entry rejections; the mobile one is the mainland_mobile
// rule's of the proto contract.
const (
	msgMobileRequired = "is required"
	msgMobileFormat   = "must be a mainland China mobile number: 11 digits starting with 13 to 19"
	msgReasonRange    = "must be a reason from 1 to 5"
	msgReasonRepeated = "repeats a reason"
)

// ValidateEntry checks an entry with the rules of SyncUserBlacklist (a
// mainland mobile ^1[3-9][0-9]{9}$; reasons 1 to 5, each at most once)
// and returns it as the store keeps it, or the first problem as
// (field, description).
func ValidateEntry(mobile string, reasons []int32) (e Entry, field, problem string) {
	switch {
	case mobile == "":
		return e, "mobile", msgMobileRequired
	case !mainland.ValidMobile(mobile):
		return e, "mobile", msgMobileFormat
	}
	e.Mobile = mobile
	for i, r := range reasons {
		at := "reason[" + strconv.Itoa(i) + "]"
		if r < 1 || r > 5 {
			return Entry{}, at, msgReasonRange
		}
		bit := uint8(1) << r
		if e.Reasons&bit != 0 {
			return Entry{}, at, msgReasonRepeated
		}
		e.Reasons |= bit
	}
	return e, "", ""
}

// importBatch is how many valid entries an import keeps in memory before
// writing them to the store in one transaction.
const importBatch = 4096

// Import is an import in progress: Add entries, then Commit, or Abort.
// One goroutine uses it at a time. Memory stays bounded by importBatch
// entries, however many are added.
type Import struct {
	m          *Manager
	id         string
	buf        []Entry
	received   int64
	rejected   int64
	accepted   int64
	rejections []Rejection
	// staged are rejections not yet written to the store (every
	// importBatch, and at Commit).
	staged []Rejection
	done   bool
}

// BeginImport starts a job: it exists, invisible, until Commit.
func (m *Manager) BeginImport(ctx context.Context, spec Spec) (*Import, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	j := JobSpec{
		ID: newJobID(), SupplierID: spec.SupplierID, OperateType: spec.OperateType,
		ServiceType: orPickup(spec.ServiceType), AbilityType: orPickup(spec.AbilityType),
		ChunkSize: m.cfg.ChunkSize, Created: m.now(),
	}
	if _, err := m.store.CreateImport(ctx, j); err != nil {
		return nil, fmt.Errorf("begin import: %w", err)
	}
	return &Import{m: m, id: j.ID, buf: make([]Entry, 0, importBatch)}, nil
}

// SpecError is a Spec that cannot make a job.
type SpecError struct {
	// Field is the bad field: supplier_id, operate_type, service_type or
	// ability_type.
	Field string
	// Problem says why.
	Problem string
}

// Error implements error.
func (e *SpecError) Error() string { return e.Field + ": " + e.Problem }

func (s Spec) check() error {
	switch {
	case s.SupplierID == "":
		return &SpecError{"supplier_id", "is required"}
	case len(s.SupplierID) > 64:
		return &SpecError{"supplier_id", "must be at most 64 characters"}
	case s.OperateType != top.OperateUpsert && s.OperateType != top.OperateDelete:
		return &SpecError{"operate_type", "must be 1 (add or update) or 2 (delete)"}
	case s.ServiceType != 0 && s.ServiceType != 1:
		return &SpecError{"service_type", "must be 1 (door-to-door pickup)"}
	case s.AbilityType != 0 && s.AbilityType != 1:
		return &SpecError{"ability_type", "must be 1 (door-to-door pickup)"}
	}
	return nil
}

func orPickup(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// ID is the job's id.
func (im *Import) ID() string { return im.id }

// Received counts the entries added so far.
func (im *Import) Received() int64 { return im.received }

// Add validates entries, keeps the valid ones (writing them to the store
// every importBatch entries) and records the rejected ones.
func (im *Import) Add(ctx context.Context, entries ...EntryInput) error {
	if im.done {
		return errors.New("import already finished")
	}
	for _, in := range entries {
		idx := im.received
		im.received++
		e, field, problem := ValidateEntry(in.Mobile, in.Reasons)
		if problem != "" {
			im.rejected++
			r := Rejection{Index: idx, Line: in.Line, Field: field, Description: problem}
			if len(im.rejections) < MaxRejections {
				im.rejections = append(im.rejections, r)
			}
			im.staged = append(im.staged, r)
			if len(im.staged) == importBatch {
				if err := im.flushRejections(ctx); err != nil {
					return err
				}
			}
			continue
		}
		e.Pos = idx
		im.accepted++
		im.buf = append(im.buf, e)
		if len(im.buf) == importBatch {
			if err := im.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushRejections writes the staged rejections to the store.
func (im *Import) flushRejections(ctx context.Context) error {
	if len(im.staged) == 0 {
		return nil
	}
	if err := im.m.store.AddImportRejections(ctx, im.id, im.staged); err != nil {
		return fmt.Errorf("import %s: %w", im.id, err)
	}
	im.staged = im.staged[:0]
	return nil
}

func (im *Import) flush(ctx context.Context) error {
	if len(im.buf) == 0 {
		return nil
	}
	if err := im.m.store.AddImportEntries(ctx, im.id, im.buf); err != nil {
		return fmt.Errorf("import %s: %w", im.id, err)
	}
	im.buf = im.buf[:0]
	return nil
}

// Commit stores the last entries and makes the job QUEUED, durably: when
// it returns, the job and all its entries are on disk. With no entries it
// fails with ErrNoEntries, with no valid entry with *NoValidEntriesError;
// either way (and on any error) no job is left behind.
func (im *Import) Commit(ctx context.Context) (Result, error) {
	if im.done {
		return Result{}, errors.New("import already finished")
	}
	var failure error
	switch {
	case im.received == 0:
		failure = ErrNoEntries
	case im.accepted == 0:
		failure = &NoValidEntriesError{Rejected: im.rejected, Rejections: im.rejections}
	}
	if failure == nil {
		failure = im.flush(ctx)
	}
	if failure == nil {
		failure = im.flushRejections(ctx)
	}
	if failure != nil {
		im.abort(ctx)
		return Result{}, failure
	}
	im.done = true
	j, err := im.m.engine.commitImport(ctx, im.id, ImportCounts{Received: im.received, Rejected: im.rejected}, im.m.now())
	if err != nil {
		im.abort(ctx)
		return Result{}, fmt.Errorf("import %s: %w", im.id, err)
	}
	im.m.logger.Info("blacklist sync job queued", slog.String("job_id", j.ID), slog.String("supplier_id", j.SupplierID),
		slog.Int64("received", j.Received), slog.Int64("rejected", j.Rejected), slog.Int64("duplicates", j.Duplicates),
		slog.Int64("total", j.Total), slog.Int64("chunks", j.Chunks))
	im.m.emit(Event{Kind: EventJobQueued, Job: j, Chunk: -1})
	return Result{Job: j, Rejections: im.rejections}, nil
}

// Abort drops the import and everything stored for it. It is safe to call
// after Commit (it does nothing then) and more than once.
func (im *Import) Abort(ctx context.Context) {
	if !im.done {
		im.abort(ctx)
	}
}

// abort deletes the import, even when ctx has ended (the caller went
// away): a half-created job must not stay.
func (im *Import) abort(ctx context.Context) {
	im.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := im.m.store.DeleteImport(ctx, im.id); err != nil && !errors.Is(err, ErrStateConflict) {
		// Left for DeleteStaleImports at the next start.
		im.m.logger.Error("drop aborted blacklist import", slog.String("job_id", im.id), slog.String("error", err.Error()))
	}
}
