package top

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func toValues(params []Param) url.Values {
	v := url.Values{}
	for _, p := range params {
		v.Set(p.Key, p.Value)
	}
	return v
}

func TestRequestsRoundTrip(t *testing.T) {
	reg := Time{Time: time.Date(2016, 6, 28, 10, 30, 0, 0, Beijing())}
	tests := []struct {
		name string
		in   interface {
			Request
			DecodeParams(Getter) error
		}
		out interface {
			Request
			DecodeParams(Getter) error
		}
		wantKeys []string
	}{
		{
			name: "assignworker",
			in: &AssignWorkerRequest{OuterID: "test12345", TargetWorkerID: 1234567, TargetWorkerMobile: "13245678901",
				Type: 2, ServiceStoreID: 12345, WorkcardID: 2345678, TargetWorkerName: "张师傅",
				StopOrderTypeCheckReason: 12, FulfilTaskID: 1898, ExtJSON: `{"carNumber":"1234"}`},
			out:      &AssignWorkerRequest{},
			wantKeys: []string{"outer_id", "target_worker_id", "target_worker_mobile", "type", "service_store_id", "workcard_id", "target_worker_name", "stop_order_type_check_reason", "fulfil_task_id", "ext_json"},
		},
		{
			name: "worker.update",
			in: &WorkerUpdateRequest{Worker: &WorkerDto{
				Address: &AddressDto{AddressDetail: "22", AddressNames: []string{"浙江省", "杭州市"}},
				BizType: "appliance_install", CoverCategoryIds: "123|456", Name: "张三", Phone: 13812345678,
				ProviderID: 1, RegisterTime: reg, ServiceAreas: []DivisionDto{{DivisionNames: []string{"浙江省"}}},
				ServiceTypes: []string{"install"}, ServiceCodes: "a|b",
			}},
			out:      &WorkerUpdateRequest{},
			wantKeys: []string{"worker"},
		},
		{
			name:     "taglist.get",
			in:       &TagListGetRequest{IDNumber: "11010519491231002X", Mobile: "13812345678"},
			out:      &TagListGetRequest{},
			wantKeys: []string{"id_number", "mobile"},
		},
		{
			name: "virtualphone.bind",
			in: &VirtualPhoneBindRequest{WorkcardRequest: &WorkcardBaseRequest{
				RequestSource: &WorkcardRequestSource{RealTpNick: "天猫服务商XXX", ServiceStoreCode: "FWS1122"}, WorkcardID: 11111222}},
			out:      &VirtualPhoneBindRequest{},
			wantKeys: []string{"workcard_request"},
		},
		{
			name: "blacklist.sync",
			in: &BlacklistSyncRequest{UserBlacklistRequest: &UserBlacklistRequest{
				RequestID: "1656674541001", RequestTime: 1656674541001, SupplierID: "10000000001", ServiceType: "1", AbilityType: "1",
				Blacklist: []Blacklist{{Mobile: "13111111111", Reason: "1,2"}}, OperateType: 1}},
			out:      &BlacklistSyncRequest{},
			wantKeys: []string{"user_blacklist_request"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, err := tt.in.AppendParams(nil)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, p := range params {
				keys = append(keys, p.Key)
				if p.Value == "" {
					t.Errorf("empty value sent for %s", p.Key)
				}
			}
			if !reflect.DeepEqual(keys, tt.wantKeys) {
				t.Fatalf("keys = %v, want %v", keys, tt.wantKeys)
			}
			if err := tt.out.DecodeParams(toValues(params)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tt.in, tt.out) {
				t.Fatalf("round trip:\n in  %+v\n out %+v", tt.in, tt.out)
			}
		})
	}
}

func TestNestedJSONShape(t *testing.T) {
	req := &WorkerUpdateRequest{Worker: &WorkerDto{Name: "张三", Phone: 13812345678,
		RegisterTime: Time{Time: time.Date(2016, 6, 28, 2, 30, 0, 0, time.UTC)},
		Address:      &AddressDto{AddressNames: []string{"a", "b"}}}}
	params, _ := req.AppendParams(nil)
	want := `{"address":{"address_names":["a","b"]},"name":"张三","phone":13812345678,"register_time":"2016-06-28 10:30:00"}`
	if params[0].Value != want {
		t.Fatalf("worker = %s\nwant     %s", params[0].Value, want)
	}
	empty, _ := (&WorkerUpdateRequest{}).AppendParams(nil)
	if len(empty) != 0 {
		t.Fatalf("nil worker sent %v", empty)
	}
}

func TestDecodeParamsErrors(t *testing.T) {
	var a AssignWorkerRequest
	err := a.DecodeParams(url.Values{"workcard_id": {"12x"}})
	var pe *ParamError
	if !errors.As(err, &pe) || pe.Param != "workcard_id" {
		t.Fatalf("err = %v", err)
	}
	var w WorkerUpdateRequest
	err = w.DecodeParams(url.Values{"worker": {`{"name":`}})
	if !errors.As(err, &pe) || pe.Param != "worker" || strings.Contains(pe.Error(), `{"name"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestTagListDecodeBothShapes decodes taglist.get's answer in TOP's
// normal and simplified JSON, with home_worker_tags inside result_data (the
// document's example) and beside it (its field table): every shape decodes
// to the same value, the tags inside result_data.
func TestTagListDecodeBothShapes(t *testing.T) {
	const rules = `{"name":"black","begin_time":"2024-12-20 17:42:01","end_time":"2024-12-23 17:42:01"}`
	const data = `"black_list":false,"degradation":"false","ability_map":"\"tv_install\":{\"effective\":true,\"serviceCode\":\"tv_install\",\"abilityLevel\":4}","vip":true,"big_promotion":"true"`
	normal := `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"result_data":{` + data + `,"home_worker_tags":{"worker_manage_rule_d_t_o":[` + rules + `]}},"msg_code":"0","success":true},"request_id":"r1"}}`
	simplified := `{"result":{"result_data":{` + data + `,"home_worker_tags":[` + rules + `]},"msg_code":0,"success":"true"},"request_id":"r1"}`
	normalBeside := `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"result_data":{` + data + `},"home_worker_tags":{"worker_manage_rule_d_t_o":[` + rules + `]},"msg_code":"0","success":true},"request_id":"r1"}}`
	simplifiedBeside := `{"result":{"result_data":{` + data + `},"home_worker_tags":[` + rules + `],"msg_code":"0","success":true},"request_id":"r1"}`
	var first *TagListGetResponse
	for _, tc := range []struct{ name, body string }{
		{"normal", normal}, {"simplified", simplified}, {"normal beside", normalBeside}, {"simplified beside", simplifiedBeside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := new(TagListGetResponse)
			if apiErr, err := DecodeEnvelope(MethodWorkerTagList, []byte(tc.body), r); err != nil || apiErr != nil {
				t.Fatal(apiErr, err)
			}
			if first == nil {
				first = r
			} else if !reflect.DeepEqual(r, first) {
				t.Fatalf("decodes to\n%+v\nnot\n%+v", r.Result, first.Result)
			}
			d := r.Result.ResultData
			if !bool(r.Result.Success) || d == nil || !bool(d.Vip) || !bool(d.BigPromotion) || len(d.HomeWorkerTags) != 1 {
				t.Fatalf("decoded %+v", r)
			}
			if got := FormatTime(d.HomeWorkerTags[0].EndTime.Time); got != "2024-12-23 17:42:01" {
				t.Fatalf("end_time %s", got)
			}
			abilities, err := ParseAbilityMap(d.AbilityMap)
			if err != nil {
				t.Fatal(err)
			}
			if a := abilities["tv_install"]; !a.Effective || a.AbilityLevel != 4 || a.ServiceCode != "tv_install" {
				t.Fatalf("ability %+v", a)
			}
		})
	}
	var r TagListGetResponse
	if err := json.Unmarshal([]byte(`{"result":{"success":"xxx"}}`), &r); err == nil || !strings.Contains(err.Error(), `"xxx" is not a boolean`) {
		t.Fatalf("success xxx: %v", err)
	}
}

func TestAbilityMap(t *testing.T) {
	in := `"tv_install":{"effective":true,"serviceCode":"tv_install","abilityLevel":4,"region":"east"},"ac_repair":{"effective":false,"serviceCode":"ac_repair","abilityLevel":1}`
	m, err := ParseAbilityMap(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || string(m["tv_install"].Extra["region"]) != `"east"` {
		t.Fatalf("parsed %+v", m)
	}
	out := FormatAbilityMap(m)
	want := `"ac_repair":{"effective":false,"serviceCode":"ac_repair","abilityLevel":1},"tv_install":{"effective":true,"serviceCode":"tv_install","abilityLevel":4,"region":"east"}`
	if out != want {
		t.Fatalf("format = %s", out)
	}
	for _, bad := range []string{`"a":`, `{"a":1}`, `"a":{"abilityLevel":"high"}`} {
		if _, err := ParseAbilityMap(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if m, err := ParseAbilityMap("  "); err != nil || len(m) != 0 {
		t.Errorf("empty: %v %v", m, err)
	}
}

func TestResponsesXMLRoot(t *testing.T) {
	resp := TagListGetResponse{Result: TagListResult{Success: true, ResultData: &WorkerTag{
		AbilityMap:     `"a":{}`,
		HomeWorkerTags: List[WorkerManageRule]{{Name: "black", BeginTime: Time{Time: time.Date(2024, 12, 20, 17, 42, 1, 0, Beijing())}}},
	}}}
	b, err := xml.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"<tmall_servicecenter_worker_taglist_get_response>", "<home_worker_tags><worker_manage_rule_d_t_o><name>black</name><begin_time>2024-12-20 17:42:01</begin_time>", "<success>true</success>", "&#34;a&#34;:{}"} {
		if !strings.Contains(s, want) {
			t.Errorf("xml %s\nmissing %s", s, want)
		}
	}
	roots := map[string]any{
		ResponseKey(MethodAssignWorker):     AssignWorkerResponse{},
		ResponseKey(MethodWorkerUpdate):     WorkerUpdateResponse{},
		ResponseKey(MethodVirtualPhoneBind): VirtualPhoneBindResponse{},
		ResponseKey(MethodBlacklistSync):    BlacklistSyncResponse{},
	}
	for root, v := range roots {
		b, err := xml.Marshal(v)
		if err != nil || !strings.HasPrefix(string(b), "<"+root+">") {
			t.Errorf("root of %T = %s (%v)", v, b, err)
		}
	}
}

func TestBusinessErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want *BusinessError
	}{
		{"assign ok", (&AssignWorkerResponse{Result: AssignWorkerResult{Success: true}}).Err(), nil},
		{"assign 1008", (&AssignWorkerResponse{RequestID: "r", Result: AssignWorkerResult{MsgCode: "1008", MsgInfo: "工单不存在", DisplayMsg: "工单不存在"}}).Err(),
			&BusinessError{Method: MethodAssignWorker, Code: "1008", Message: "工单不存在", DisplayMsg: "工单不存在", RequestID: "r"}},
		{"update 10006", (&WorkerUpdateResponse{Result: ResultBase{ErrorCode: 10006, ErrorMsg: "工人不存在"}}).Err(),
			&BusinessError{Method: MethodWorkerUpdate, Code: "10006", Message: "工人不存在"}},
		{"tags fail", (&TagListGetResponse{Result: TagListResult{MsgCode: "404"}}).Err(),
			&BusinessError{Method: MethodWorkerTagList, Code: "404"}},
		{"bind fail", (&VirtualPhoneBindResponse{Result: VirtualPhoneResult{MsgCode: "1008"}}).Err(),
			&BusinessError{Method: MethodVirtualPhoneBind, Code: "1008"}},
		{"sync retry", (&BlacklistSyncResponse{UserBlacklistResponse: UserBlacklistResponse{Code: "500", Message: "busy", IsRetry: true}}).Err(),
			&BusinessError{Method: MethodBlacklistSync, Code: "500", Message: "busy", Retry: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				if tt.err != nil {
					t.Fatalf("err = %v", tt.err)
				}
				return
			}
			var be *BusinessError
			if !errors.As(tt.err, &be) || !reflect.DeepEqual(be, tt.want) {
				t.Fatalf("err = %#v, want %#v", tt.err, tt.want)
			}
		})
	}
	e := &BusinessError{Method: "m", Code: "1", Message: "mobile 13812345678 blocked"}
	if strings.Contains(e.Error(), "13812345678") {
		t.Fatalf("Error leaks: %s", e.Error())
	}
}

func TestIDList(t *testing.T) {
	tests := []struct {
		ids  []int64
		text string
	}{
		{nil, ""},
		{[]int64{123}, "123"},
		{[]int64{123, 456, -7}, "123|456|-7"},
	}
	for _, tt := range tests {
		if got := FormatIDList(tt.ids); got != tt.text {
			t.Errorf("FormatIDList(%v) = %q, want %q", tt.ids, got, tt.text)
		}
		got, err := ParseIDList(tt.text)
		if err != nil || !reflect.DeepEqual(got, tt.ids) {
			t.Errorf("ParseIDList(%q) = %v, %v", tt.text, got, err)
		}
	}
	for _, bad := range []string{"12a", "1||2", "1|", "|1", " 1", "99999999999999999999"} {
		if _, err := ParseIDList(bad); err == nil || strings.Contains(err.Error(), bad) {
			t.Errorf("ParseIDList(%q) = %v, want an error that does not quote the text", bad, err)
		}
	}
}
