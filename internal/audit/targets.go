package audit

import (
	"strconv"

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
	KindSyncJob          = "sync_job"
)

// Targets lists the ids a mutating call acts on, from its request and
// (when it succeeded) its response. Phone numbers keep only their first
// 3 and last 4 digits and ID numbers their first 6 and last 4
// (internal/redact); free-text codes (store codes, biz types, callers'
// request ids) also pass redact.Text, so that a phone number typed into
// one is masked too. Numeric ids and the supplier id are kept as they are: they
// name businesses and records, not people. Workers' names are left out:
// they are personal data and not ids.
func Targets(req, resp any) []Target {
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
			t.add(KindWorkerIdentity, redact.ID(w.GetIdentityId()))
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
		for _, e := range r.GetBlacklist() {
			t.mobile(KindMobile, e.GetMobile())
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

func (t *targets) add(kind, id string) { *t = append(*t, Target{Kind: kind, ID: id}) }

func (t *targets) id(kind string, id int64) {
	if id != 0 {
		t.add(kind, strconv.FormatInt(id, 10))
	}
}

func (t *targets) mobile(kind, phone string) {
	if phone != "" {
		t.add(kind, redact.Phone(phone))
	}
}

func (t *targets) plain(kind, s string) {
	if s != "" {
		t.add(kind, s)
	}
}

func (t *targets) text(kind, s string) {
	if s != "" {
		t.add(kind, redact.Text(s))
	}
}
