package topemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/mainland"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// State is the emulator's JSON seed document: everything the methods
// read and change. GET /_emulator/state exports it, PUT /_emulator/state
// loads it, and examples/emulator-seed.json is the demo data in this form.
// Times are TOP's "yyyy-MM-dd HH:mm:ss" in UTC+8.
type State struct {
	// Stores are the service stores (网点/门店) workcards belong to.
	Stores []Store `json:"stores"`
	// Workcards are the workcards (工单) that can get workers and virtual numbers.
	Workcards []Workcard `json:"workcards"`
	// Workers are the workers (工人) of the providers.
	Workers []Worker `json:"workers"`
	// Blacklist is the door-to-door pickup user blacklist the sync maintains.
	Blacklist []BlacklistEntry `json:"blacklist"`
	// VirtualNumbers are the virtual phone numbers bound to workcards.
	VirtualNumbers []VirtualNumber `json:"virtual_numbers"`
	// Categories are the valid category ids for worker.update's
	// cover_category_ids (11000 otherwise).
	Categories []int64 `json:"categories"`
	// BizTypes are the valid biz_type values for worker.update (11001
	// otherwise).
	BizTypes []string `json:"biz_types"`
}

// Store is a service store.
type Store struct {
	// ID is the store id (assignworker's service_store_id).
	ID int64 `json:"id"`
	// Code is the store code (virtualphone.bind's service_store_code).
	Code string `json:"code"`
	// Name is the store's name.
	Name string `json:"name,omitempty"`
	// ProviderID is the provider the store belongs to.
	ProviderID int64 `json:"provider_id,omitempty"`
}

// Workcard is a workcard.
type Workcard struct {
	// ID is workcard_id.
	ID int64 `json:"id"`
	// ProviderID is the provider that serves the workcard.
	ProviderID int64 `json:"provider_id,omitempty"`
	// ServiceStoreID is the store the workcard belongs to (a Store's ID).
	ServiceStoreID int64 `json:"service_store_id"`
	// FulfilTaskIDs are the fulfilment tasks (核销单) of the workcard.
	FulfilTaskIDs []int64 `json:"fulfil_task_ids,omitempty"`
	// Assignment is the worker assigned last, if any.
	Assignment *Assignment `json:"assignment,omitempty"`
	// Status is the workcard's state: "" (created before states were
	// kept) or created, assigned, consigned, completed, cancelled. The
	// admin API and assignworker change it, and each change publishes a
	// TMC message (docs/tmc.md).
	Status string `json:"status,omitempty"`
}

// Assignment records an assignworker call that succeeded.
type Assignment struct {
	// WorkerID is the assigned worker.
	WorkerID int64 `json:"worker_id"`
	// OperatorType is the type parameter: 2 provider, 3 store.
	OperatorType int64 `json:"operator_type"`
	// ServiceStoreID is service_store_id when given.
	ServiceStoreID int64 `json:"service_store_id,omitempty"`
	// FulfilTaskID is fulfil_task_id when given.
	FulfilTaskID int64 `json:"fulfil_task_id,omitempty"`
	// OuterID is outer_id when given.
	OuterID string `json:"outer_id,omitempty"`
	// ExtJSON is ext_json when given.
	ExtJSON string `json:"ext_json,omitempty"`
	// AssignedAt is when the assignment was made.
	AssignedAt top.Time `json:"assigned_at,omitzero"`
}

// Worker is a worker. Within a provider, a worker is unique by name +
// phone + biz_type.
type Worker struct {
	// ID is the worker id (assignworker's target_worker_id).
	ID int64 `json:"id"`
	// ProviderID is the provider the worker works for.
	ProviderID int64 `json:"provider_id"`
	// ProviderName is the provider's name.
	ProviderName string `json:"provider_name,omitempty"`
	// Name is the worker's name.
	Name string `json:"name"`
	// Phone is the worker's mainland mobile number.
	Phone string `json:"phone"`
	// BizType is the business type, e.g. appliance_install.
	BizType string `json:"biz_type"`
	// IdentityID is the worker's ID card number (taglist.get's id_number).
	IdentityID string `json:"identity_id,omitempty"`
	// ServiceStoreCode is the worker's store code.
	ServiceStoreCode string `json:"service_store_code,omitempty"`
	// CoverCategoryIDs are category ids joined by "|".
	CoverCategoryIDs string `json:"cover_category_ids,omitempty"`
	// ServiceCodes are service codes joined by "|".
	ServiceCodes string `json:"service_codes,omitempty"`
	// WorkType is work_type.
	WorkType string `json:"work_type,omitempty"`
	// ServiceTypes is service_types.
	ServiceTypes []string `json:"service_types,omitempty"`
	// Address is where the worker lives.
	Address *top.AddressDto `json:"address,omitempty"`
	// ServiceAreas are the areas the worker serves.
	ServiceAreas []top.DivisionDto `json:"service_areas,omitempty"`
	// RegisterTime is register_time.
	RegisterTime top.Time `json:"register_time,omitzero"`
	// Tags are what taglist.get answers.
	Tags WorkerTags `json:"tags"`
	// GmtCreate is when the worker was created.
	GmtCreate top.Time `json:"gmt_create,omitzero"`
	// GmtModified is when the worker last changed.
	GmtModified top.Time `json:"gmt_modified,omitzero"`
}

// WorkerTags are a worker's tags as taglist.get reports them. A worker with
// BlackList set cannot be assigned.
type WorkerTags struct {
	// BlackList marks a blacklisted worker.
	BlackList bool `json:"black_list"`
	// Degradation is the 飞单 state.
	Degradation bool `json:"degradation"`
	// Vip marks a VIP worker.
	Vip bool `json:"vip"`
	// BigPromotion marks a 大促 worker.
	BigPromotion bool `json:"big_promotion"`
	// Abilities are rendered as ability_map.
	Abilities map[string]Ability `json:"abilities,omitempty"`
	// HomeWorkerTags are the 家享 management rules.
	HomeWorkerTags []HomeWorkerTag `json:"home_worker_tags,omitempty"`
}

// Ability is one ability of a worker.
type Ability struct {
	// Effective says whether the ability is active.
	Effective bool `json:"effective"`
	// ServiceCode is the service the worker can perform.
	ServiceCode string `json:"service_code"`
	// AbilityLevel is 0 none, 1 junior, 2 intermediate, 3 senior, 4 expert.
	AbilityLevel int64 `json:"ability_level"`
}

// HomeWorkerTag is one home_worker_tags rule.
type HomeWorkerTag struct {
	// Name is the rule's name, e.g. black.
	Name string `json:"name"`
	// BeginTime is when the rule starts.
	BeginTime top.Time `json:"begin_time,omitzero"`
	// EndTime is when the rule ends.
	EndTime top.Time `json:"end_time,omitzero"`
}

// BlacklistEntry is one blacklisted pickup user.
type BlacklistEntry struct {
	// Mobile is the user's mainland mobile number.
	Mobile string `json:"mobile"`
	// Reasons are reasons 1 to 5 joined by commas, ascending.
	Reasons string `json:"reasons,omitempty"`
	// SupplierID is the provider that listed the user.
	SupplierID string `json:"supplier_id,omitempty"`
	// UpdatedAt is when the entry last changed.
	UpdatedAt top.Time `json:"updated_at,omitzero"`
}

// VirtualNumber is a virtual phone number bound to a workcard.
type VirtualNumber struct {
	// WorkcardID is the workcard.
	WorkcardID int64 `json:"workcard_id"`
	// Number is the virtual number.
	Number string `json:"number"`
	// ExpiresAt is when the binding ends; a bind after it gets a new number.
	ExpiresAt top.Time `json:"expires_at"`
}

// Demo ids, documented in README.md ("Testing against the emulator").
const (
	demoProviderID   = 1
	demoProviderName = "演示服务商"
	demoSupplierID   = "10000000001"
)

// DemoState returns the demo data: every method succeeds with the API
// documents' example values (workcard 2345678 with fulfil task 1898 in
// store 12345, worker 1234567 张师傅 13245678901, virtual phone workcard
// 11111222 in store FWS1122), plus a blacklisted worker and a worker for
// worker.update. examples/emulator-seed.json holds the same document.
func DemoState() *State {
	at := func(s string) top.Time {
		t, err := top.ParseTime(s)
		if err != nil {
			panic(err) // constant input
		}
		return top.Time{Time: t}
	}
	created := at("2024-06-28 10:30:00")
	return &State{
		Stores: []Store{
			{ID: 1122, Code: "FWS1122", Name: "演示洗护门店", ProviderID: demoProviderID},
			{ID: 12345, Code: "FWS12345", Name: "演示网点（杭州西湖）", ProviderID: demoProviderID},
		},
		Workcards: []Workcard{
			{ID: 2345678, ProviderID: demoProviderID, ServiceStoreID: 12345, FulfilTaskIDs: []int64{1898}},
			{ID: 3456789, ProviderID: demoProviderID, ServiceStoreID: 12345, FulfilTaskIDs: []int64{1900, 1901}},
			{ID: 11111222, ProviderID: demoProviderID, ServiceStoreID: 1122, FulfilTaskIDs: []int64{1899}},
		},
		Workers: []Worker{
			{
				ID: 1234567, ProviderID: demoProviderID, ProviderName: demoProviderName,
				Name: "张师傅", Phone: "13245678901", BizType: top.BizTypeApplianceInstallation,
				IdentityID: "11010519491231002X", ServiceStoreCode: "FWS12345",
				CoverCategoryIDs: "123|456", ServiceCodes: "tv_install|ac_install",
				RegisterTime: created, GmtCreate: created, GmtModified: created,
				Tags: WorkerTags{
					Vip: true, BigPromotion: true,
					Abilities: map[string]Ability{
						"tv_install": {Effective: true, ServiceCode: "tv_install", AbilityLevel: 4},
						"ac_install": {Effective: false, ServiceCode: "ac_install", AbilityLevel: 2},
					},
					HomeWorkerTags: []HomeWorkerTag{
						{Name: "vip", BeginTime: at("2024-12-20 17:42:01"), EndTime: at("2030-12-31 23:59:59")},
					},
				},
			},
			{
				ID: 1234568, ProviderID: demoProviderID, ProviderName: demoProviderName,
				Name: "张三", Phone: "13712345678", BizType: top.BizTypeApplianceInstallation,
				IdentityID: "33010619880606123X", ServiceStoreCode: "FWS12345",
				CoverCategoryIDs: "123", ServiceCodes: "washer_install",
				Address:      &top.AddressDto{AddressDetail: "文三路 22 号", AddressNames: []string{"浙江省", "杭州市", "西湖区", "文新街道"}},
				RegisterTime: created, GmtCreate: created, GmtModified: created,
				Tags: WorkerTags{
					Abilities: map[string]Ability{
						"washer_install": {Effective: true, ServiceCode: "washer_install", AbilityLevel: 1},
					},
				},
			},
			{
				ID: 1234569, ProviderID: demoProviderID, ProviderName: demoProviderName,
				Name: "王师傅", Phone: "13698765432", BizType: top.BizTypeApplianceInstallation,
				IdentityID: "440305197512250014", ServiceStoreCode: "FWS12345",
				CoverCategoryIDs: "456", ServiceCodes: "ac_install",
				RegisterTime: created, GmtCreate: created, GmtModified: created,
				Tags: WorkerTags{
					BlackList: true, Degradation: true,
					Abilities: map[string]Ability{
						"ac_install": {Effective: false, ServiceCode: "ac_install", AbilityLevel: 3},
					},
					HomeWorkerTags: []HomeWorkerTag{
						{Name: "black", BeginTime: at("2024-12-20 17:42:01"), EndTime: at("2030-12-31 23:59:59")},
					},
				},
			},
		},
		Blacklist: []BlacklistEntry{
			{Mobile: "13111111111", Reasons: "1", SupplierID: demoSupplierID, UpdatedAt: created},
		},
		VirtualNumbers: []VirtualNumber{},
		Categories:     []int64{123, 456, 789},
		BizTypes:       []string{top.BizTypeApplianceInstallation},
	}
}

// clone returns a deep copy of s through its JSON form.
func (s *State) clone() (*State, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("copy state: %w", err)
	}
	var out State
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("copy state: %w", err)
	}
	return &out, nil
}

// ParseState decodes and validates a seed document.
func ParseState(b []byte) (*State, error) {
	var s State
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks the document's references and uniqueness rules: ids and
// store codes unique, workcards in known stores, workers unique by provider
// + name + phone + biz_type, blacklist mobiles valid and unique, reasons in
// 1..5, virtual numbers on known workcards.
func (s *State) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	storeIDs := map[int64]bool{}
	storeCodes := map[string]bool{}
	for i, st := range s.Stores {
		if st.ID <= 0 || st.Code == "" {
			bad("stores[%d]: id and code are required", i)
		}
		if storeIDs[st.ID] || storeCodes[st.Code] {
			bad("stores[%d]: duplicate id or code", i)
		}
		storeIDs[st.ID], storeCodes[st.Code] = true, true
	}
	cards := map[int64]bool{}
	for i, wc := range s.Workcards {
		if wc.ID <= 0 {
			bad("workcards[%d]: id is required", i)
		}
		if cards[wc.ID] {
			bad("workcards[%d]: duplicate id %d", i, wc.ID)
		}
		cards[wc.ID] = true
		if !storeIDs[wc.ServiceStoreID] {
			bad("workcards[%d]: unknown service_store_id %d", i, wc.ServiceStoreID)
		}
		if wc.Status != "" && !slices.Contains(workcardStatuses, wc.Status) {
			bad("workcards[%d]: status %q is not one of %s", i, wc.Status, strings.Join(workcardStatuses, ", "))
		}
	}
	workerIDs := map[int64]bool{}
	workerKeys := map[string]bool{}
	for i, w := range s.Workers {
		if w.ID <= 0 || w.Name == "" || w.Phone == "" || w.BizType == "" {
			bad("workers[%d]: id, name, phone and biz_type are required", i)
		}
		if workerIDs[w.ID] {
			bad("workers[%d]: duplicate id %d", i, w.ID)
		}
		workerIDs[w.ID] = true
		key := workerKey(w.ProviderID, w.Name, w.Phone, w.BizType)
		if workerKeys[key] {
			bad("workers[%d]: duplicate provider + name + phone + biz_type", i)
		}
		workerKeys[key] = true
		if !mainland.ValidMobile(w.Phone) {
			bad("workers[%d]: phone is not a mainland mobile number", i)
		}
	}
	for i, wc := range s.Workcards {
		if wc.Assignment != nil && !workerIDs[wc.Assignment.WorkerID] {
			bad("workcards[%d]: assignment names unknown worker %d", i, wc.Assignment.WorkerID)
		}
	}
	mobiles := map[string]bool{}
	for i, b := range s.Blacklist {
		if !mainland.ValidMobile(b.Mobile) {
			bad("blacklist[%d]: mobile is not a mainland mobile number", i)
		}
		if mobiles[b.Mobile] {
			bad("blacklist[%d]: duplicate mobile", i)
		}
		mobiles[b.Mobile] = true
		if _, err := parseReasons(b.Reasons); err != nil {
			bad("blacklist[%d]: %v", i, err)
		}
	}
	bound := map[int64]bool{}
	for i, v := range s.VirtualNumbers {
		if !cards[v.WorkcardID] {
			bad("virtual_numbers[%d]: unknown workcard %d", i, v.WorkcardID)
		}
		if bound[v.WorkcardID] {
			bad("virtual_numbers[%d]: workcard %d bound twice", i, v.WorkcardID)
		}
		bound[v.WorkcardID] = true
		if v.Number == "" {
			bad("virtual_numbers[%d]: number is required", i)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid state: %w", errors.Join(errs...))
	}
	return nil
}

func workerKey(provider int64, name, phone, bizType string) string {
	return strconv.FormatInt(provider, 10) + "\x00" + name + "\x00" + phone + "\x00" + bizType
}

// reasonMask is a set of blacklist reasons 1..5 as bits 1..5.
type reasonMask uint8

// parseReasons parses "1,2" (reasons 1 to 5 joined by commas, no blanks,
// no repeats); "" is the empty set.
func parseReasons(s string) (reasonMask, error) {
	if s == "" {
		return 0, nil
	}
	var m reasonMask
	for part := range strings.SplitSeq(s, ",") {
		if len(part) != 1 || part[0] < '1' || part[0] > '5' {
			return 0, errors.New("reason must be reasons 1 to 5 joined by commas")
		}
		bit := reasonMask(1) << (part[0] - '0')
		if m&bit != 0 {
			return 0, errors.New("reason lists a reason twice")
		}
		m |= bit
	}
	return m, nil
}

// String formats the set as TOP sends it, ascending: "1,2".
func (m reasonMask) String() string {
	var parts []string
	for r := 1; r <= 5; r++ {
		if m&(1<<r) != 0 {
			parts = append(parts, strconv.Itoa(r))
		}
	}
	return strings.Join(parts, ",")
}

// sortState puts every list of s in a stable order, so exports compare.
func sortState(s *State) {
	slices.SortFunc(s.Stores, func(a, b Store) int { return cmpInt(a.ID, b.ID) })
	slices.SortFunc(s.Workcards, func(a, b Workcard) int { return cmpInt(a.ID, b.ID) })
	slices.SortFunc(s.Workers, func(a, b Worker) int { return cmpInt(a.ID, b.ID) })
	slices.SortFunc(s.Blacklist, func(a, b BlacklistEntry) int { return strings.Compare(a.Mobile, b.Mobile) })
	slices.SortFunc(s.VirtualNumbers, func(a, b VirtualNumber) int { return cmpInt(a.WorkcardID, b.WorkcardID) })
	slices.Sort(s.Categories)
	slices.Sort(s.BizTypes)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// beijingTime wraps t as a TOP time truncated to seconds.
func beijingTime(t time.Time) top.Time {
	return top.Time{Time: t.Truncate(time.Second).In(top.Beijing())}
}
