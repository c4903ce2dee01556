package service

import (
	"context"
	"strconv"
	"strings"
	"time"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Logistics implements servicecenter.v1.LogisticsService.
type Logistics struct {
	scv1.UnimplementedLogisticsServiceServer
	handlers
	jobs *syncjob.Manager // the bulk path (blacklist_jobs.go); may be nil
	now  func() time.Time
}

var _ scv1.LogisticsServiceServer = (*Logistics)(nil)

// NewLogistics returns the LogisticsService handlers.
func NewLogistics(d Deps) *Logistics {
	return &Logistics{handlers: newHandlers(d), jobs: d.BlacklistJobs, now: time.Now}
}

// SyncUserBlacklist calls taobao.logistics.express.user.blacklist.tms.sync.
// An empty request_id is replaced by a new one, returned in the response,
// so the caller can retry the same sync safely: TOP applies a request_id
// once.
func (h *Logistics) SyncUserBlacklist(ctx context.Context, req *scv1.SyncUserBlacklistRequest) (*scv1.SyncUserBlacklistResponse, error) {
	in := BlacklistSyncToTOP(req, h.now)
	out, err := call(ctx, h.handlers, top.BlacklistSync, in)
	if err != nil {
		return nil, err
	}
	u := out.UserBlacklistResponse
	return &scv1.SyncUserBlacklistResponse{
		RequestId: in.UserBlacklistRequest.RequestID, Success: bool(u.Success), Code: string(u.Code),
		Message: u.Message, IsRetry: bool(u.IsRetry), TopRequestId: out.RequestID,
	}, nil
}

// BlacklistSyncToTOP maps a sync request to TOP's, filling an empty
// request_id with a new one and an unset request_time with now.
func BlacklistSyncToTOP(req *scv1.SyncUserBlacklistRequest, now func() time.Time) *top.BlacklistSyncRequest {
	id := req.GetRequestId()
	if id == "" {
		id = "scd-" + rpc.NewRequestID()
	}
	u := &top.UserBlacklistRequest{
		RequestID:   id,
		RequestTime: top.Int64(unixMillis(req.GetRequestTime(), now)),
		SupplierID:  req.GetSupplierId(),
		ServiceType: typeOrPickup(int32(req.GetServiceType())),
		AbilityType: typeOrPickup(int32(req.GetAbilityType())),
		OperateType: top.Int64(req.GetOperateType()),
		Blacklist:   make([]top.Blacklist, 0, len(req.GetBlacklist())),
	}
	for _, e := range req.GetBlacklist() {
		u.Blacklist = append(u.Blacklist, top.Blacklist{Mobile: e.GetMobile(), Reason: JoinReasons(e.GetReason())})
	}
	return &top.BlacklistSyncRequest{UserBlacklistRequest: u}
}

// JoinReasons writes reasons as TOP's comma list, e.g. "1,2".
func JoinReasons(reasons []scv1.BlacklistReason) string {
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = strconv.Itoa(int(r))
	}
	return strings.Join(parts, ",")
}

// typeOrPickup is service_type/ability_type as TOP's text; unset is "1",
// door-to-door pickup, the only type TOP documents.
func typeOrPickup(v int32) string {
	if v == 0 {
		return top.ServiceTypePickup
	}
	return strconv.Itoa(int(v))
}
