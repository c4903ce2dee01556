package service

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Workers implements servicecenter.v1.WorkerService.
type Workers struct {
	scv1.UnimplementedWorkerServiceServer
	handlers
}

var _ scv1.WorkerServiceServer = (*Workers)(nil)

// NewWorkers returns the WorkerService handlers.
func NewWorkers(d Deps) *Workers { return &Workers{handlers: newHandlers(d)} }

// UpdateWorker calls tmall.servicecenter.worker.update.
func (h *Workers) UpdateWorker(ctx context.Context, req *scv1.UpdateWorkerRequest) (*scv1.UpdateWorkerResponse, error) {
	dto, err := workerToTOP(req.GetWorker())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	out, err := call(ctx, h.handlers, top.WorkerUpdate, &top.WorkerUpdateRequest{Worker: dto})
	if err != nil {
		return nil, err
	}
	r := out.Result
	return &scv1.UpdateWorkerResponse{
		Success: bool(r.Success), Value: bool(r.Value), ErrorCode: int64(r.ErrorCode), ErrorMsg: r.ErrorMsg,
		GmtCreate: fromTOPTime(r.GmtCreate), GmtModified: fromTOPTime(r.GmtModified), TopRequestId: out.RequestID,
	}, nil
}

func workerToTOP(w *scv1.Worker) (*top.WorkerDto, error) {
	// phone is validated as a mainland mobile, so it parses; TOP wants a Number.
	phone, err := strconv.ParseInt(w.GetPhone(), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("worker phone is not numeric")
	}
	dto := &top.WorkerDto{
		BizType:          w.GetBizType(),
		CoverCategoryIds: top.FormatIDList(w.GetCoverCategoryIds()),
		HandheldCardPic:  w.GetHandheldCardPic(),
		IDCardPic:        w.GetIdCardPic(),
		IDCardPicBack:    w.GetIdCardPicBack(),
		IdentityID:       w.GetIdentityId(),
		Name:             w.GetName(),
		Phone:            top.Int64(phone),
		Photo:            w.GetPhoto(),
		ProviderID:       top.Int64(w.GetProviderId()),
		ProviderName:     w.GetProviderName(),
		RegisterTime:     toTOPTime(w.GetRegisterTime()),
		ServiceStoreCode: w.GetServiceStoreCode(),
		ServiceTypes:     w.GetServiceTypes(),
		WorkType:         w.GetWorkType(),
		ServiceCodes:     strings.Join(w.GetServiceCodes(), "|"),
	}
	if a := w.GetAddress(); a != nil {
		dto.Address = &top.AddressDto{AddressDetail: a.GetAddressDetail(), AddressNames: a.GetAddressNames()}
	}
	for _, d := range w.GetServiceAreas() {
		dto.ServiceAreas = append(dto.ServiceAreas, top.DivisionDto{DivisionNames: d.GetDivisionNames()})
	}
	return dto, nil
}

// GetWorkerTags calls tmall.servicecenter.worker.taglist.get.
func (h *Workers) GetWorkerTags(ctx context.Context, req *scv1.GetWorkerTagsRequest) (*scv1.GetWorkerTagsResponse, error) {
	out, err := call(ctx, h.handlers, top.WorkerTagList, &top.TagListGetRequest{IDNumber: req.GetIdNumber(), Mobile: req.GetMobile()})
	if err != nil {
		return nil, err
	}
	r := out.Result
	resp := &scv1.GetWorkerTagsResponse{
		Success: bool(r.Success), MsgCode: string(r.MsgCode), MsgInfo: r.MsgInfo, TopRequestId: out.RequestID,
	}
	if d := r.ResultData; d != nil {
		resp.ResultData = &scv1.WorkerTag{
			BlackList: bool(d.BlackList), Degradation: bool(d.Degradation),
			Vip: bool(d.Vip), BigPromotion: bool(d.BigPromotion),
		}
		abilities, err := abilitiesFromTOP(d.AbilityMap)
		if err != nil {
			// The call succeeded; keep TOP's text for the caller to read.
			resp.ResultData.RawAbilityMap = d.AbilityMap
		} else {
			resp.ResultData.AbilityMap = abilities
		}
		// home_worker_tags sent beside result_data are already here (top
		// merges both shapes when it decodes).
		for _, rule := range d.HomeWorkerTags {
			resp.ResultData.HomeWorkerTags = append(resp.ResultData.HomeWorkerTags, &scv1.WorkerManageRule{
				Name: rule.Name, BeginTime: fromTOPTime(rule.BeginTime), EndTime: fromTOPTime(rule.EndTime),
			})
		}
	}
	return resp, nil
}

// abilitiesFromTOP parses TOP's ability_map text straight into the API's
// map (no map of top.Ability between).
func abilitiesFromTOP(text string) (map[string]*scv1.Ability, error) {
	return top.ParseAbilities(text, abilityFromTOP)
}

// abilityFromTOP is one ability of ability_map as the API answers it.
func abilityFromTOP(name string, a top.Ability) (*scv1.Ability, error) {
	extra, err := rawToStruct(a.Extra)
	if err != nil {
		return nil, fmt.Errorf("ability %q: %w", name, err)
	}
	return &scv1.Ability{
		Effective: a.Effective, ServiceCode: a.ServiceCode,
		AbilityLevel: scv1.AbilityLevel(a.AbilityLevel), Extra: extra,
	}, nil
}
