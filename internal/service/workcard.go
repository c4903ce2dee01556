package service

import (
	"context"
	"encoding/json"
	"fmt"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Workcards implements servicecenter.v1.WorkcardService.
type Workcards struct {
	scv1.UnimplementedWorkcardServiceServer
	handlers
}

var _ scv1.WorkcardServiceServer = (*Workcards)(nil)

// NewWorkcards returns the WorkcardService handlers.
func NewWorkcards(d Deps) *Workcards { return &Workcards{handlers: newHandlers(d)} }

// AssignWorker calls tmall.servicecenter.workcard.assignworker.
func (h *Workcards) AssignWorker(ctx context.Context, req *scv1.AssignWorkerRequest) (*scv1.AssignWorkerResponse, error) {
	in, err := assignWorkerToTOP(req)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	out, err := call(ctx, h.handlers, top.AssignWorker, in)
	if err != nil {
		return nil, err
	}
	r := out.Result
	return &scv1.AssignWorkerResponse{
		Success: bool(r.Success), MsgCode: string(r.MsgCode), MsgInfo: r.MsgInfo,
		DisplayMsg: r.DisplayMsg, TopRequestId: out.RequestID,
	}, nil
}

func assignWorkerToTOP(req *scv1.AssignWorkerRequest) (*top.AssignWorkerRequest, error) {
	in := &top.AssignWorkerRequest{
		OuterID:                  req.GetOuterId(),
		TargetWorkerID:           req.GetTargetWorkerId(),
		TargetWorkerMobile:       req.GetTargetWorkerMobile(),
		Type:                     int64(req.GetType()),
		ServiceStoreID:           req.GetServiceStoreId(),
		WorkcardID:               req.GetWorkcardId(),
		TargetWorkerName:         req.GetTargetWorkerName(),
		StopOrderTypeCheckReason: req.GetStopOrderTypeCheckReason(),
		FulfilTaskID:             req.GetFulfilTaskId(),
	}
	if ext := req.GetExtJson(); ext != nil {
		// encoding/json sorts keys, so the text (and TOP's signature input)
		// is the same for the same object.
		b, err := json.Marshal(ext.AsMap())
		if err != nil {
			return nil, fmt.Errorf("encode ext_json: %w", err)
		}
		in.ExtJSON = string(b)
	}
	return in, nil
}

// BindVirtualPhone calls tmall.servicecenter.workcard.virtualphone.bind.
func (h *Workcards) BindVirtualPhone(ctx context.Context, req *scv1.BindVirtualPhoneRequest) (*scv1.BindVirtualPhoneResponse, error) {
	src := req.GetRequestSource()
	out, err := call(ctx, h.handlers, top.VirtualPhoneBind, &top.VirtualPhoneBindRequest{WorkcardRequest: &top.WorkcardBaseRequest{
		WorkcardID:    top.Int64(req.GetWorkcardId()),
		RequestSource: &top.WorkcardRequestSource{RealTpNick: src.GetRealTpNick(), ServiceStoreCode: src.GetServiceStoreCode()},
	}})
	if err != nil {
		return nil, err
	}
	r := out.Result
	return &scv1.BindVirtualPhoneResponse{
		ResultData: string(r.ResultData), Success: bool(r.Success), MsgCode: string(r.MsgCode),
		MsgInfo: r.MsgInfo, TopRequestId: out.RequestID,
	}, nil
}
