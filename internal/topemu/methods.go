package topemu

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// handler answers one call of a TOP method; busy answers the method's
// transient failure instead (a fault rule).
type handler func(ctx context.Context, p url.Values, now time.Time, busy bool) answer

// handlers is the emulator's one table of TOP methods: a method is known
// (code 22 otherwise) exactly when it has a handler here. A test checks it
// against top.Methods.
func (e *Emulator) handlers() map[string]handler {
	return map[string]handler{
		top.AssignWorker.Name:     e.assignWorker,
		top.WorkerUpdate.Name:     e.updateWorker,
		top.WorkerTagList.Name:    e.tagList,
		top.VirtualPhoneBind.Name: e.bindVirtualPhone,
		top.BlacklistSync.Name:    e.syncBlacklist,
	}
}

// storageFailed answers a failed save: TOP's platform error, worth a retry.
func (e *Emulator) storageFailed(method string, err error) answer {
	e.log.Error("save emulator state", "method", method, "err", err)
	return topError(top.CodeRemoteServiceError, top.SubCodeServiceUnavailable, "emulator state could not be saved")
}

func assignResult(code string) answer {
	msg := top.BusinessText(code)
	return answer{resp: &top.AssignWorkerResponse{Result: top.AssignWorkerResult{
		Success: false, MsgCode: top.String(code), MsgInfo: msg, DisplayMsg: msg,
	}}}
}

// assignWorker is tmall.servicecenter.workcard.assignworker.
func (e *Emulator) assignWorker(ctx context.Context, p url.Values, now time.Time, busy bool) answer {
	var req top.AssignWorkerRequest
	if err := req.DecodeParams(p); err != nil {
		return invalidParam(err)
	}
	switch {
	case req.WorkcardID == 0:
		return remoteInvalid(top.SubCodeMissingParameter, "workcard_id is required")
	case req.Type != 0 && req.Type != top.OperatorProvider && req.Type != top.OperatorStore:
		return remoteInvalid(top.SubCodeInvalidParameter, "type must be 2 (provider) or 3 (store)")
	case req.Type == top.OperatorStore && req.ServiceStoreID == 0:
		return remoteInvalid(top.SubCodeMissingParameter, "service_store_id is required when type is 3")
	case req.TargetWorkerID == 0 && req.TargetWorkerMobile == "":
		return remoteInvalid(top.SubCodeMissingParameter, "target_worker_id or target_worker_mobile is required")
	case req.ExtJSON != "" && !isJSONObject(req.ExtJSON):
		return remoteInvalid(top.SubCodeInvalidParameter, "ext_json must be a JSON object")
	}
	if busy {
		return assignResult(top.BizSystemBusy)
	}
	opType := req.Type
	if opType == 0 {
		opType = top.OperatorProvider
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	wc, ok := e.m.workcards[req.WorkcardID]
	if !ok {
		return assignResult(top.BizWorkcardNotFound)
	}
	if req.ServiceStoreID != 0 && req.ServiceStoreID != wc.ServiceStoreID {
		return assignResult(top.BizStoreMismatch)
	}
	if req.FulfilTaskID != 0 && !slices.Contains(wc.FulfilTaskIDs, req.FulfilTaskID) {
		return assignResult(top.BizFulfilTaskNotFound)
	}
	var w Worker
	if req.TargetWorkerID != 0 {
		w, ok = e.m.workers[req.TargetWorkerID]
		if ok && req.TargetWorkerMobile != "" && w.Phone != req.TargetWorkerMobile {
			return assignResult(top.BizWorkerMismatch)
		}
	} else {
		w, ok = e.m.workerByMobile(req.TargetWorkerMobile)
	}
	switch {
	case !ok:
		return assignResult(top.BizWorkerNotFound)
	case req.TargetWorkerName != "" && req.TargetWorkerName != w.Name:
		return assignResult(top.BizWorkerMismatch)
	case w.Tags.BlackList:
		return assignResult(top.BizWorkerBlacklisted)
	}
	wc.Assignment = &Assignment{
		WorkerID: w.ID, OperatorType: opType, ServiceStoreID: req.ServiceStoreID,
		FulfilTaskID: req.FulfilTaskID, OuterID: req.OuterID, ExtJSON: req.ExtJSON,
		AssignedAt: beijingTime(now),
	}
	if !final(wc.Status) {
		wc.Status = WorkcardAssigned
	}
	if err := e.saveLocked(ctx, workcardRow(wc)); err != nil {
		return e.storageFailed(top.MethodAssignWorker, err)
	}
	e.m.workcards[wc.ID] = wc
	e.publishAssigned(wc, w.ID)
	return answer{resp: &top.AssignWorkerResponse{Result: top.AssignWorkerResult{Success: true}}}
}

// saveLocked saves documents when the state lives in a file. e.mu must be
// held for writing.
func (e *Emulator) saveLocked(ctx context.Context, docs ...docRow) error {
	select {
	case <-e.closed:
		return errClosed
	default:
	}
	if e.db == nil {
		return nil
	}
	// Like TOP's back end, finish the write even if the caller has gone:
	// the file and memory must agree.
	return e.db.putDocs(context.WithoutCancel(ctx), docs...)
}

func isJSONObject(s string) bool {
	var v map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &v) == nil && v != nil
}

func workerFailure(code int64) answer {
	return answer{resp: &top.WorkerUpdateResponse{Result: top.ResultBase{
		Success: false, ErrorCode: top.Int64(code), ErrorMsg: top.BusinessText(strconv.FormatInt(code, 10)),
	}}}
}

// updateWorker is tmall.servicecenter.worker.update: the worker, unique by
// provider + name + phone + biz_type, must exist; the other fields given
// replace the stored ones.
func (e *Emulator) updateWorker(ctx context.Context, p url.Values, now time.Time, busy bool) answer {
	var req top.WorkerUpdateRequest
	if err := req.DecodeParams(p); err != nil {
		return invalidParam(err)
	}
	if busy {
		return workerFailure(top.WorkerCodeSystemError)
	}
	dto := req.Worker
	switch {
	case dto == nil:
		return workerFailure(top.WorkerCodeWorkerEmpty)
	case dto.ProviderID == 0 && dto.ProviderName == "":
		return workerFailure(top.WorkerCodeProviderEmpty)
	case dto.Name == "":
		return workerFailure(top.WorkerCodeNameMissing)
	case dto.Phone == 0:
		return workerFailure(top.WorkerCodePhoneMissing)
	}
	phone := strconv.FormatInt(int64(dto.Phone), 10)

	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.m.bizTypes[dto.BizType] {
		return workerFailure(top.WorkerCodeInvalidBizType)
	}
	ids, err := top.ParseIDList(dto.CoverCategoryIds)
	if err != nil {
		return workerFailure(top.WorkerCodeInvalidCategory)
	}
	for _, id := range ids {
		if !e.m.categories[id] {
			return workerFailure(top.WorkerCodeInvalidCategory)
		}
	}
	if dto.ServiceStoreCode != "" {
		if _, ok := e.m.storeCodes[dto.ServiceStoreCode]; !ok {
			return workerFailure(top.WorkerCodeStoreNotFound)
		}
	}
	var w Worker
	found := false
	for _, cand := range e.m.workers {
		if cand.Name == dto.Name && cand.Phone == phone && cand.BizType == dto.BizType &&
			(dto.ProviderID == 0 || cand.ProviderID == int64(dto.ProviderID)) &&
			(dto.ProviderID != 0 || cand.ProviderName == dto.ProviderName) {
			w, found = cand, true
			break
		}
	}
	if !found {
		return workerFailure(top.WorkerCodeWorkerNotFound)
	}
	applyWorkerDto(&w, dto)
	w.GmtModified = beijingTime(now)
	if err := e.saveLocked(ctx, workerRow(w)); err != nil {
		return e.storageFailed(top.MethodWorkerUpdate, err)
	}
	e.m.workers[w.ID] = w
	return answer{resp: &top.WorkerUpdateResponse{Result: top.ResultBase{
		Success: true, Value: true, GmtCreate: w.GmtCreate, GmtModified: w.GmtModified,
	}}}
}

// applyWorkerDto copies the fields worker.update sent onto w. Pictures are
// accepted and not kept.
func applyWorkerDto(w *Worker, d *top.WorkerDto) {
	if d.ProviderName != "" {
		w.ProviderName = d.ProviderName
	}
	if d.IdentityID != "" {
		w.IdentityID = d.IdentityID
	}
	if d.ServiceStoreCode != "" {
		w.ServiceStoreCode = d.ServiceStoreCode
	}
	if d.CoverCategoryIds != "" {
		w.CoverCategoryIDs = d.CoverCategoryIds
	}
	if d.ServiceCodes != "" {
		w.ServiceCodes = d.ServiceCodes
	}
	if d.WorkType != "" {
		w.WorkType = d.WorkType
	}
	if d.ServiceTypes != nil {
		w.ServiceTypes = slices.Clone(d.ServiceTypes)
	}
	if d.Address != nil {
		a := *d.Address
		a.AddressNames = slices.Clone(a.AddressNames)
		w.Address = &a
	}
	if d.ServiceAreas != nil {
		w.ServiceAreas = slices.Clone(d.ServiceAreas)
	}
	if !d.RegisterTime.IsZero() {
		w.RegisterTime = beijingTime(d.RegisterTime.Time)
	}
}

func tagFailure(code string) answer {
	return answer{resp: &top.TagListGetResponse{Result: top.TagListResult{
		Success: false, MsgCode: top.String(code), MsgInfo: top.BusinessText(code),
	}}}
}

// tagList is tmall.servicecenter.worker.taglist.get: the worker with this
// identity number and mobile.
func (e *Emulator) tagList(_ context.Context, p url.Values, _ time.Time, busy bool) answer {
	var req top.TagListGetRequest
	if err := req.DecodeParams(p); err != nil {
		return invalidParam(err)
	}
	switch {
	case req.IDNumber == "":
		return missingParam("id_number")
	case req.Mobile == "":
		return missingParam("mobile")
	}
	if busy {
		return tagFailure(top.BizSystemBusy)
	}
	e.mu.RLock()
	var w Worker
	found := false
	for _, cand := range e.m.workers {
		if cand.Phone == req.Mobile && strings.EqualFold(cand.IdentityID, req.IDNumber) {
			w, found = cand, true
			break
		}
	}
	e.mu.RUnlock()
	if !found {
		return tagFailure(top.BizWorkerNotFound)
	}
	abilities := make(map[string]top.Ability, len(w.Tags.Abilities))
	for name, a := range w.Tags.Abilities {
		abilities[name] = top.Ability{Effective: a.Effective, ServiceCode: a.ServiceCode, AbilityLevel: a.AbilityLevel}
	}
	tag := &top.WorkerTag{
		BlackList: top.Bool(w.Tags.BlackList), Degradation: top.Bool(w.Tags.Degradation),
		AbilityMap: top.FormatAbilityMap(abilities),
		Vip:        top.Bool(w.Tags.Vip), BigPromotion: top.Bool(w.Tags.BigPromotion),
	}
	for _, h := range w.Tags.HomeWorkerTags {
		tag.HomeWorkerTags = append(tag.HomeWorkerTags, top.WorkerManageRule{Name: h.Name, BeginTime: h.BeginTime, EndTime: h.EndTime})
	}
	return answer{resp: &top.TagListGetResponse{Result: top.TagListResult{Success: true, ResultData: tag}}}
}

func phoneFailure(code string) answer {
	return answer{resp: &top.VirtualPhoneBindResponse{Result: top.VirtualPhoneResult{
		Success: false, MsgCode: top.String(code), MsgInfo: top.BusinessText(code),
	}}}
}

// bindVirtualPhone is tmall.servicecenter.workcard.virtualphone.bind: the
// same workcard gets the same number until the binding expires.
func (e *Emulator) bindVirtualPhone(ctx context.Context, p url.Values, now time.Time, busy bool) answer {
	var req top.VirtualPhoneBindRequest
	if err := req.DecodeParams(p); err != nil {
		return invalidParam(err)
	}
	wr := req.WorkcardRequest
	switch {
	case wr == nil:
		return missingParam("workcard_request")
	case wr.RequestSource == nil:
		return remoteInvalid(top.SubCodeMissingParameter, "workcard_request.request_source is required")
	case wr.WorkcardID == 0:
		return remoteInvalid(top.SubCodeMissingParameter, "workcard_request.workcard_id is required")
	}
	if busy {
		return phoneFailure(top.BizSystemBusy)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	wc, ok := e.m.workcards[int64(wr.WorkcardID)]
	if !ok {
		return phoneFailure(top.BizWorkcardNotFound)
	}
	if code := wr.RequestSource.ServiceStoreCode; code != "" && e.m.stores[wc.ServiceStoreID].Code != code {
		return phoneFailure(top.BizStoreMismatch)
	}
	v, bound := e.m.vnums[wc.ID]
	if !bound || !now.Before(v.ExpiresAt.Time) {
		next := e.m.vseq
		v = VirtualNumber{WorkcardID: wc.ID, Number: e.m.nextNumber(), ExpiresAt: beijingTime(now.Add(e.cfg.VirtualNumberTTL))}
		if err := e.saveLocked(ctx, vnumRow(v)); err != nil {
			e.m.vseq = next
			return e.storageFailed(top.MethodVirtualPhoneBind, err)
		}
		e.m.vnums[wc.ID] = v
	}
	return answer{resp: &top.VirtualPhoneBindResponse{Result: top.VirtualPhoneResult{
		Success: true, ResultData: top.String(v.Number),
	}}}
}
