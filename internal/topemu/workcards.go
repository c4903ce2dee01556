package topemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// The TMC topics the workcards publish on.
const (
	TopicWorkcardInfo         = "tmall_fuwu_WorkcardInfo"
	TopicWorkcardStatusUpdate = "tmall_fuwu_WorkcardStatusUpdate"
)

// The workcard states.
const (
	WorkcardCreated   = "created"
	WorkcardAssigned  = "assigned"
	WorkcardConsigned = "consigned"
	WorkcardCompleted = "completed"
	WorkcardCancelled = "cancelled"
)

var workcardStatuses = []string{WorkcardCreated, WorkcardAssigned, WorkcardConsigned, WorkcardCompleted, WorkcardCancelled}

// workcardAction is one action of tmall_fuwu_WorkcardStatusUpdate: the
// state it leads to and the (deprecated) numeric status the message
// carries. create, complete, cancel and consign are the topic's documented
// actions; assign is the emulator's, for assignworker (docs/tmc.md).
type workcardAction struct {
	status string
	number int
}

var workcardActions = map[string]workcardAction{
	"create":   {WorkcardCreated, 1},
	"assign":   {WorkcardAssigned, 2},
	"consign":  {WorkcardConsigned, 3},
	"complete": {WorkcardCompleted, 4},
	"cancel":   {WorkcardCancelled, 5},
}

func final(status string) bool { return status == WorkcardCompleted || status == WorkcardCancelled }

// WorkcardCreate is the body of POST /_emulator/workcards.
type WorkcardCreate struct {
	// ID is the new workcard's id; 0 picks the next free one.
	ID int64 `json:"id,omitempty"`
	// ServiceStoreID is the store it belongs to (required, must exist).
	ServiceStoreID int64 `json:"service_store_id"`
	// ProviderID is the provider; 0 is the store's.
	ProviderID int64 `json:"provider_id,omitempty"`
	// FulfilTaskIDs are its fulfilment tasks.
	FulfilTaskIDs []int64 `json:"fulfil_task_ids,omitempty"`
	// AuctionSkuProperties is WorkcardInfo's auction_sku_properties.
	AuctionSkuProperties string `json:"auction_sku_properties,omitempty"`
	// BuyerLocation is WorkcardInfo's buyer_location (a division id).
	BuyerLocation int64 `json:"buyer_location,omitempty"`
}

// WorkcardStatusChange is the body of POST /_emulator/workcards/{id}/status.
type WorkcardStatusChange struct {
	// Action is create, assign, consign, complete or cancel.
	Action string `json:"action"`
	// Comment is the message's comment.
	Comment string `json:"comment,omitempty"`
	// The service counts the topic carries on complete and cancel.
	UsedServiceCount      *int64 `json:"used_service_count,omitempty"`
	TotalUsedServiceCount *int64 `json:"total_used_service_count,omitempty"`
	LeftServiceCount      *int64 `json:"left_service_count,omitempty"`
	RefundServiceCount    *int64 `json:"refund_service_count,omitempty"`
}

// Errors of the workcard admin calls.
var (
	errWorkcardNotFound = errors.New("no such workcard")
	errWorkcardFinal    = errors.New("the workcard is completed or cancelled; its status cannot change")
)

// CreateWorkcard adds a workcard and publishes tmall_fuwu_WorkcardInfo for
// it; it returns the workcard and the message's id.
func (e *Emulator) CreateWorkcard(ctx context.Context, req WorkcardCreate) (Workcard, int64, error) {
	if req.ID < 0 || req.ServiceStoreID <= 0 {
		return Workcard{}, 0, errors.New("service_store_id is required and ids must be positive")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.m.stores[req.ServiceStoreID]
	if !ok {
		return Workcard{}, 0, fmt.Errorf("unknown service_store_id %d", req.ServiceStoreID)
	}
	id := req.ID
	if id == 0 {
		for wid := range e.m.workcards {
			id = max(id, wid)
		}
		id++
	} else if _, dup := e.m.workcards[id]; dup {
		return Workcard{}, 0, fmt.Errorf("workcard %d exists", id)
	}
	wc := Workcard{
		ID: id, ProviderID: req.ProviderID, ServiceStoreID: st.ID,
		FulfilTaskIDs: slices.Clone(req.FulfilTaskIDs), Status: WorkcardCreated,
	}
	if wc.ProviderID == 0 {
		wc.ProviderID = st.ProviderID
	}
	if err := e.saveLocked(ctx, workcardRow(wc)); err != nil {
		return Workcard{}, 0, fmt.Errorf("save workcard: %w", err)
	}
	e.m.workcards[wc.ID] = wc
	now := e.now()
	result, err := json.Marshal(map[string]any{
		"workcard_id": wc.ID, "tp_id": wc.ProviderID, "service_store_id": wc.ServiceStoreID,
		"service_store_code": st.Code, "fulfil_task_ids": wc.FulfilTaskIDs, "status": wc.Status,
		"gmt_create": topTimeText(now),
	})
	if err != nil {
		return Workcard{}, 0, err
	}
	content := map[string]any{"result": string(result)}
	if req.AuctionSkuProperties != "" {
		content["auction_sku_properties"] = req.AuctionSkuProperties
	}
	if req.BuyerLocation != 0 {
		content["buyer_location"] = req.BuyerLocation
	}
	msgID, err := e.publishJSON(TopicWorkcardInfo, content, wc.ID)
	if err != nil {
		return Workcard{}, 0, err
	}
	e.log.Info("emulator workcard created", "workcard", wc.ID, "tmc_message", msgID)
	return wc, msgID, nil
}

// ChangeWorkcardStatus applies an action to a workcard and publishes
// tmall_fuwu_WorkcardStatusUpdate; it returns the workcard and the
// message's id.
func (e *Emulator) ChangeWorkcardStatus(ctx context.Context, id int64, ch WorkcardStatusChange) (Workcard, int64, error) {
	act, ok := workcardActions[ch.Action]
	if !ok {
		return Workcard{}, 0, fmt.Errorf("action must be one of create, assign, consign, complete, cancel, not %q", ch.Action)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	wc, ok := e.m.workcards[id]
	if !ok {
		return Workcard{}, 0, errWorkcardNotFound
	}
	if final(wc.Status) {
		return Workcard{}, 0, errWorkcardFinal
	}
	wc.Status = act.status
	if err := e.saveLocked(ctx, workcardRow(wc)); err != nil {
		return Workcard{}, 0, fmt.Errorf("save workcard: %w", err)
	}
	e.m.workcards[id] = wc
	msgID, err := e.publishStatusUpdate(wc, ch)
	if err != nil {
		return Workcard{}, 0, err
	}
	e.log.Info("emulator workcard status changed", "workcard", id, "action", ch.Action, "tmc_message", msgID)
	return wc, msgID, nil
}

// publishStatusUpdate publishes tmall_fuwu_WorkcardStatusUpdate for wc.
func (e *Emulator) publishStatusUpdate(wc Workcard, ch WorkcardStatusChange) (int64, error) {
	content := map[string]any{
		"workcard_id": wc.ID, "action": ch.Action, "status": workcardActions[ch.Action].number,
		"type": 1, "tp_id": wc.ProviderID, "comment": ch.Comment, "update_date": topTimeText(e.now()),
	}
	for name, v := range map[string]*int64{
		"used_service_count": ch.UsedServiceCount, "total_used_service_count": ch.TotalUsedServiceCount,
		"left_service_count": ch.LeftServiceCount, "refund_service_count": ch.RefundServiceCount,
	} {
		if v != nil {
			content[name] = *v
		}
	}
	return e.publishJSON(TopicWorkcardStatusUpdate, content, wc.ID)
}

// publishAssigned publishes the status update of a successful
// assignworker (action assign).
func (e *Emulator) publishAssigned(wc Workcard, workerID int64) {
	ch := WorkcardStatusChange{Action: "assign", Comment: "worker " + strconv.FormatInt(workerID, 10) + " assigned"}
	if _, err := e.publishStatusUpdate(wc, ch); err != nil {
		e.log.Error("publish the workcard's status update", "workcard", wc.ID, "err", err)
	}
}

func (e *Emulator) publishJSON(topic string, content map[string]any, dataID int64) (int64, error) {
	b, err := json.Marshal(content)
	if err != nil {
		return 0, fmt.Errorf("encode %s content: %w", topic, err)
	}
	return e.tmc.publish(TMCMessage{Topic: topic, Content: string(b), DataID: dataID})
}

// topTimeText is TOP's "yyyy-MM-dd HH:mm:ss" in UTC+8.
func topTimeText(t time.Time) string { return t.In(top.Beijing()).Format(time.DateTime) }

func (e *Emulator) handleCreateWorkcard(w http.ResponseWriter, r *http.Request) {
	var req WorkcardCreate
	if err := decodeAdminJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	wc, id, err := e.CreateWorkcard(r.Context(), req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workcard": wc, "tmc_message_id": id})
}

func (e *Emulator) handleWorkcardStatus(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, errors.New("workcard id must be a positive whole number"))
		return
	}
	var req WorkcardStatusChange
	if err := decodeAdminJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	wc, msgID, err := e.ChangeWorkcardStatus(r.Context(), id, req)
	switch {
	case errors.Is(err, errWorkcardNotFound):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, errWorkcardFinal):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"workcard": wc, "tmc_message_id": msgID})
	}
}
