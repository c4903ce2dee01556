package audit

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// Target kinds.
const (
	KindWorkcard         = "workcard"
	KindWorker           = "worker"
	KindWorkerMobile     = "worker_mobile"
	KindWorkerIdentity   = "worker_identity"
	KindServiceStore     = "service_store"
	KindServiceStoreCode = "service_store_code"
	KindFulfilTask       = "fulfil_task"
	KindProvider         = "provider"
	KindBizType          = "biz_type"
	KindSupplier         = "supplier"
	KindBlacklistRequest = "blacklist_request"
	KindOperateType      = "operate_type"
	KindMobile           = "mobile"
	KindEntries          = "blacklist_entries"
	KindSyncJob          = "sync_job"
)

// MaxEntrySample is how many entries of a blacklist sync call are listed
// as targets (KindMobile), the first ones; KindEntries counts them all.
const MaxEntrySample = 10

// MaxTargetID bounds a target's id, in characters. Valid ids are at most
// 64; a longer one (of a call that validation refuses) is cut and ends
// in "…", so that a hostile request cannot inflate the trail or the log.
const MaxTargetID = 64

// Targets lists the ids a mutating call acts on, from its request and
// (when it succeeded) its response. Phone numbers keep only their first
// 3 and last 4 digits and ID numbers their first 6 and last 4
// (internal/redact); free-text codes (store codes, biz types, callers'
// request ids) also pass redact.Text, so that a phone number typed into
// one is masked too. Numeric ids and the supplier id are kept as they are: they
// name businesses and records, not people. Workers' names are left out:
// they are personal data and not ids.
//
// The list is bounded whatever the request holds: every id is cut to
// MaxTargetID characters (control characters replaced), and a blacklist
// sync lists its entry count (KindEntries) and at most its first
// MaxEntrySample mobiles. admitted says whether the call passed
// authentication and authorization: the entries of a call that did not
// are not listed at all, only counted (a caller with no right to act
// names no one in the trail).
func Targets(req, resp any, admitted bool) []Target {
	var t targets
	switch r := req.(type) {
	case *scv1.AssignWorkerRequest:
		t.id(KindWorkcard, r.GetWorkcardId())
		t.id(KindWorker, r.GetTargetWorkerId())
		t.mobile(KindWorkerMobile, r.GetTargetWorkerMobile())
		t.id(KindServiceStore, r.GetServiceStoreId())
		t.id(KindFulfilTask, r.GetFulfilTaskId())
	case *scv1.BindVirtualPhoneRequest:
		t.id(KindWorkcard, r.GetWorkcardId())
		t.text(KindServiceStoreCode, r.GetRequestSource().GetServiceStoreCode())
	case *scv1.UpdateWorkerRequest:
		w := r.GetWorker()
		t.id(KindProvider, w.GetProviderId())
		t.mobile(KindWorkerMobile, w.GetPhone())
		if w.GetIdentityId() != "" {
			t.add(KindWorkerIdentity, redact.ID(cut(w.GetIdentityId(), MaxTargetID)))
		}
		t.text(KindBizType, w.GetBizType())
		t.text(KindServiceStoreCode, w.GetServiceStoreCode())
	case *scv1.SyncUserBlacklistRequest:
		t.plain(KindSupplier, r.GetSupplierId())
		if id := r.GetRequestId(); id != "" {
			t.text(KindBlacklistRequest, id)
		} else if s, ok := resp.(*scv1.SyncUserBlacklistResponse); ok {
			// servicecenterd made this id (random hex): it holds no
			// personal data, and masking a digit run in it would garble it.
			t.plain(KindBlacklistRequest, s.GetRequestId())
		}
		if r.GetOperateType() != scv1.OperateType_OPERATE_TYPE_UNSPECIFIED {
			t.add(KindOperateType, r.GetOperateType().String())
		}
		entries := r.GetBlacklist()
		t.add(KindEntries, strconv.Itoa(len(entries)))
		if admitted {
			for _, e := range entries[:min(len(entries), MaxEntrySample)] {
				t.mobile(KindMobile, e.GetMobile())
			}
		}
	case *scv1.ImportUserBlacklistRequest:
		// The first message of the stream: the job's settings. The entries
		// (up to millions) are not listed; the job id names them.
		s := r.GetSettings()
		t.plain(KindSupplier, s.GetSupplierId())
		if s.GetOperateType() != scv1.OperateType_OPERATE_TYPE_UNSPECIFIED {
			t.add(KindOperateType, s.GetOperateType().String())
		}
		if i, ok := resp.(*scv1.ImportUserBlacklistResponse); ok {
			t.plain(KindSyncJob, i.GetJob().GetJobId())
		}
	case *scv1.CancelBlacklistSyncJobRequest:
		t.text(KindSyncJob, r.GetJobId())
	}
	return t
}

type targets []Target

// add appends a target whose id is already masked, bounding it.
func (t *targets) add(kind, id string) {
	*t = append(*t, Target{Kind: kind, ID: cut(printable(id), MaxTargetID)})
}

func (t *targets) id(kind string, id int64) {
	if id != 0 {
		t.add(kind, strconv.FormatInt(id, 10))
	}
}

func (t *targets) mobile(kind, phone string) {
	if phone != "" {
		t.add(kind, redact.Phone(cut(phone, MaxTargetID)))
	}
}

func (t *targets) plain(kind, s string) {
	if s != "" {
		t.add(kind, cut(s, MaxTargetID))
	}
}

// text masks free text. It is cut before masking to a length from which
// the kept MaxTargetID characters are masked as in the whole text (a
// phone or ID number is at most 21 characters), so that masking a
// hostile megabyte costs nothing.
func (t *targets) text(kind, s string) {
	if s != "" {
		t.add(kind, redact.Text(cut(s, 2*MaxTargetID)))
	}
}

// cut keeps the first n characters of s, replacing the rest with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	if _, size := utf8.DecodeRuneInString(s[i:]); i+size >= len(s) {
		return s // n characters or fewer
	}
	return s[:i] + "…"
}

// printable replaces control characters and invalid UTF-8, which have
// no place in an id, with U+FFFD.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}
