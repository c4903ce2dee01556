package contract

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	v1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// today is the fixed "now" of these tests: half past midnight on
// 2025-01-01 in UTC+8, still 2024-12-31 in UTC, so that the birth-date
// rule is seen to use China's date.
var today = time.Date(2025, 1, 1, 0, 30, 0, 0, time.FixedZone("UTC+8", 8*3600))

const (
	validMobile = "13245678901"
	// validID is the textbook GB 11643 example: born 1949-12-31, check X.
	validID = "11010519491231002X"
)

func newValidator(t testing.TB) protovalidate.Validator {
	t.Helper()
	v, err := protovalidate.New(protovalidate.WithNowFunc(func() *timestamppb.Timestamp {
		return timestamppb.New(today)
	}))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// violations validates msg and returns its violations as sorted
// "field.path rule_id" strings (the field path is empty for message
// rules). A rule that fails to evaluate is a test failure: it would reach
// callers as INTERNAL.
func violations(t testing.TB, v protovalidate.Validator, msg proto.Message) []string {
	t.Helper()
	err := v.Validate(msg)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate: not a validation error: %v", err)
	}
	out := make([]string, 0, len(verr.Violations))
	for _, viol := range verr.Violations {
		p := viol.Proto
		out = append(out, protovalidate.FieldPathString(p.GetField())+" "+p.GetRuleId())
		if digits.MatchString(p.GetMessage()) {
			t.Errorf("violation message %q may echo personal data", p.GetMessage())
		}
	}
	slices.Sort(out)
	return out
}

// digits finds a run long enough to be a phone or ID number.
var digits = regexp.MustCompile(`[0-9]{11,}`)

// residentID completes 17 digits with their GB 11643 check character. It
// is the test's own implementation (checked by TestResidentIDHelper
// against the two examples of GB 11643-1999), the reference the CEL rules
// are compared to.
func residentID(first17 string) string {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(first17[i]-'0') * w
	}
	return first17 + string("10X98765432"[sum%11])
}

func TestResidentIDHelper(t *testing.T) {
	for _, id := range []string{validID, "440524188001010014"} {
		if got := residentID(id[:17]); got != id {
			t.Errorf("residentID(%s) = %s, want %s", id[:17], got, id)
		}
	}
}

func validAssign() *v1.AssignWorkerRequest {
	ext, err := structpb.NewStruct(map[string]any{"carNumber": "1234"})
	if err != nil {
		panic(err)
	}
	return &v1.AssignWorkerRequest{
		WorkcardId:               2345678,
		OuterId:                  "test12345",
		TargetWorkerId:           1234567,
		TargetWorkerMobile:       validMobile,
		Type:                     v1.OperatorType_OPERATOR_TYPE_PROVIDER,
		ServiceStoreId:           12345,
		TargetWorkerName:         "张师傅",
		StopOrderTypeCheckReason: 12,
		FulfilTaskId:             1898,
		ExtJson:                  ext,
	}
}

func validBind() *v1.BindVirtualPhoneRequest {
	return &v1.BindVirtualPhoneRequest{
		WorkcardId:    11111222,
		RequestSource: &v1.WorkcardRequestSource{RealTpNick: "天猫服务商XXX", ServiceStoreCode: "FWS1122"},
	}
}

func validUpdate() *v1.UpdateWorkerRequest {
	return &v1.UpdateWorkerRequest{Worker: &v1.Worker{
		Address:          &v1.Address{AddressDetail: "文三路 22 号", AddressNames: []string{"浙江省", "杭州市", "西湖区", "文新街道"}},
		BizType:          "appliance_install",
		CoverCategoryIds: []int64{123, 456},
		HandheldCardPic:  "https://img.example.com/handheld.jpg",
		IdCardPic:        "https://img.example.com/front.jpg",
		IdCardPicBack:    "https://img.example.com/back.jpg",
		IdentityId:       validID,
		Name:             "张三",
		Phone:            validMobile,
		Photo:            "https://img.example.com/photo.jpg",
		ProviderId:       1,
		ProviderName:     "某某服务商",
		RegisterTime:     timestamppb.New(time.Date(2016, 6, 28, 2, 30, 0, 0, time.UTC)),
		ServiceAreas:     []*v1.Division{{DivisionNames: []string{"浙江省", "杭州市"}}},
		ServiceStoreCode: "FWS1122",
		ServiceTypes:     []string{"install", "repair"},
		WorkType:         "full_time",
		ServiceCodes:     []string{"tv_install", "ac_install"},
	}}
}

func validTags() *v1.GetWorkerTagsRequest {
	return &v1.GetWorkerTagsRequest{IdNumber: validID, Mobile: validMobile}
}

func validSync() *v1.SyncUserBlacklistRequest {
	return &v1.SyncUserBlacklistRequest{
		RequestId:   "1656674541001",
		RequestTime: timestamppb.New(today.Add(-time.Hour)),
		SupplierId:  "10000000001",
		ServiceType: v1.BlacklistServiceType_BLACKLIST_SERVICE_TYPE_DOOR_TO_DOOR_PICKUP,
		AbilityType: v1.BlacklistAbilityType_BLACKLIST_ABILITY_TYPE_DOOR_TO_DOOR_PICKUP,
		Blacklist: []*v1.BlacklistEntry{
			{Mobile: "13111111111", Reason: []v1.BlacklistReason{v1.BlacklistReason_BLACKLIST_REASON_MALICIOUS_ORDER}},
			{Mobile: "13111111112", Reason: []v1.BlacklistReason{
				v1.BlacklistReason_BLACKLIST_REASON_MALICIOUS_COMPLAINT, v1.BlacklistReason_BLACKLIST_REASON_EXTORTION,
				v1.BlacklistReason_BLACKLIST_REASON_PERSONAL_ATTACK, v1.BlacklistReason_BLACKLIST_REASON_OTHER,
			}},
		},
		OperateType: v1.OperateType_OPERATE_TYPE_UPSERT,
	}
}

// with returns a copy of the valid request base() changed by f.
func with[M proto.Message](base func() M, f func(M)) proto.Message {
	m := base()
	f(m)
	return m
}

// entries returns n blacklist entries with distinct valid mobiles.
func entries(n int) []*v1.BlacklistEntry {
	out := make([]*v1.BlacklistEntry, n)
	for i := range out {
		out[i] = &v1.BlacklistEntry{Mobile: fmt.Sprintf("139%08d", i)}
	}
	return out
}

// importEntries returns n import entries; extra replace the first ones.
func importEntries(n int, extra ...*v1.BlacklistImportEntry) []*v1.BlacklistImportEntry {
	out := make([]*v1.BlacklistImportEntry, n)
	for i := range out {
		out[i] = &v1.BlacklistImportEntry{Mobile: fmt.Sprintf("139%08d", i)}
	}
	copy(out, extra)
	return out
}

func TestValidationRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("字", n) }
	manyKeys := map[string]any{}
	for i := range 65 {
		manyKeys["k"+strconv.Itoa(i)] = i
	}
	tooManyKeys, err := structpb.NewStruct(manyKeys)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i + 1)
		}
		return out
	}

	tests := []struct {
		name string
		msg  proto.Message
		want []string // "field.path rule_id", sorted; nil when valid
	}{
		// AssignWorker
		{"assign: valid, every field", validAssign(), nil},
		{"assign: valid, workcard and worker id", &v1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerId: 1}, nil},
		{"assign: valid, workcard and worker mobile", &v1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerMobile: validMobile}, nil},
		{"assign: valid, store operator", with(validAssign, func(r *v1.AssignWorkerRequest) { r.Type = v1.OperatorType_OPERATOR_TYPE_STORE }), nil},
		{"assign: empty", &v1.AssignWorkerRequest{}, []string{" target_worker_id.or_mobile", "workcard_id int64.gt"}},
		{"assign: no worker", &v1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerName: "张师傅"}, []string{" target_worker_id.or_mobile"}},
		{"assign: store operator without its store", with(validAssign, func(r *v1.AssignWorkerRequest) {
			r.Type, r.ServiceStoreId = v1.OperatorType_OPERATOR_TYPE_STORE, 0
		}), []string{" service_store_id.for_store"}},
		{"assign: outer_id with a space", with(validAssign, func(r *v1.AssignWorkerRequest) { r.OuterId = "test 12345" }), []string{"outer_id string.visible_ascii"}},
		{"assign: outer_id with Chinese", with(validAssign, func(r *v1.AssignWorkerRequest) { r.OuterId = "核销12345" }), []string{"outer_id string.visible_ascii"}},
		{"assign: outer_id with NUL", with(validAssign, func(r *v1.AssignWorkerRequest) { r.OuterId = "test\x0012345" }), []string{"outer_id string.visible_ascii"}},
		{"assign: name with NUL", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerName = "张\x00师傅" }), []string{"target_worker_name string.printable_text"}},
		{"assign: name with a zero-width space", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerName = "张\u200b师傅" }), []string{"target_worker_name string.printable_text"}},
		{"assign: name with a newline", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerName = "张师傅\n" }), []string{"target_worker_name string.printable_text"}},
		{"assign: valid, name with an emoji", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerName = "张师傅😀" }), nil},
		{"assign: workcard_id missing", with(validAssign, func(r *v1.AssignWorkerRequest) { r.WorkcardId = 0 }), []string{"workcard_id int64.gt"}},
		{"assign: workcard_id negative", with(validAssign, func(r *v1.AssignWorkerRequest) { r.WorkcardId = -1 }), []string{"workcard_id int64.gt"}},
		{"assign: target_worker_id negative", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerId = -1 }), []string{"target_worker_id int64.gt"}},
		{"assign: service_store_id negative", with(validAssign, func(r *v1.AssignWorkerRequest) { r.ServiceStoreId = -1 }), []string{"service_store_id int64.gt"}},
		{"assign: stop_order_type_check_reason negative", with(validAssign, func(r *v1.AssignWorkerRequest) { r.StopOrderTypeCheckReason = -12 }), []string{"stop_order_type_check_reason int64.gt"}},
		{"assign: fulfil_task_id negative", with(validAssign, func(r *v1.AssignWorkerRequest) { r.FulfilTaskId = -1 }), []string{"fulfil_task_id int64.gt"}},
		{"assign: mobile starting 12", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerMobile = "12245678901" }), []string{"target_worker_mobile string.mainland_mobile"}},
		{"assign: mobile of 10 digits", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerMobile = "1324567890" }), []string{"target_worker_mobile string.mainland_mobile"}},
		{"assign: mobile with +86", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerMobile = "+8613245678901" }), []string{"target_worker_mobile string.mainland_mobile"}},
		{"assign: type 1 is not TOP's", with(validAssign, func(r *v1.AssignWorkerRequest) { r.Type = 1 }), []string{"type enum.defined_only"}},
		{"assign: type 99", with(validAssign, func(r *v1.AssignWorkerRequest) { r.Type = 99 }), []string{"type enum.defined_only"}},
		{"assign: outer_id too long", with(validAssign, func(r *v1.AssignWorkerRequest) { r.OuterId = strings.Repeat("a", 65) }), []string{"outer_id string.max_len"}},
		{"assign: name of 32 characters", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerName = long(32) }), nil},
		{"assign: name too long", with(validAssign, func(r *v1.AssignWorkerRequest) { r.TargetWorkerName = long(33) }), []string{"target_worker_name string.max_len"}},
		{"assign: ext_json with 65 keys", with(validAssign, func(r *v1.AssignWorkerRequest) { r.ExtJson = tooManyKeys }), []string{"ext_json ext_json.max_keys"}},

		// BindVirtualPhone
		{"bind: valid", validBind(), nil},
		{"bind: valid, empty request_source", with(validBind, func(r *v1.BindVirtualPhoneRequest) { r.RequestSource = &v1.WorkcardRequestSource{} }), nil},
		{"bind: workcard_id missing", with(validBind, func(r *v1.BindVirtualPhoneRequest) { r.WorkcardId = 0 }), []string{"workcard_id int64.gt"}},
		{"bind: request_source missing", with(validBind, func(r *v1.BindVirtualPhoneRequest) { r.RequestSource = nil }), []string{"request_source required"}},
		{"bind: real_tp_nick too long", with(validBind, func(r *v1.BindVirtualPhoneRequest) { r.RequestSource.RealTpNick = long(65) }), []string{"request_source.real_tp_nick string.max_len"}},
		{"bind: service_store_code too long", with(validBind, func(r *v1.BindVirtualPhoneRequest) { r.RequestSource.ServiceStoreCode = strings.Repeat("F", 65) }), []string{"request_source.service_store_code string.max_len"}},
		{"bind: service_store_code with NUL", with(validBind, func(r *v1.BindVirtualPhoneRequest) { r.RequestSource.ServiceStoreCode = "FWS\x001122" }), []string{"request_source.service_store_code string.code"}},
		{"bind: service_store_code in Chinese", with(validBind, func(r *v1.BindVirtualPhoneRequest) { r.RequestSource.ServiceStoreCode = "网点编码" }), []string{"request_source.service_store_code string.code"}},
		{"bind: real_tp_nick with a tab", with(validBind, func(r *v1.BindVirtualPhoneRequest) { r.RequestSource.RealTpNick = "天猫\t服务商" }), []string{"request_source.real_tp_nick string.printable_text"}},

		// UpdateWorker
		{"update: valid, every field", validUpdate(), nil},
		{"update: valid, name, phone and provider id", &v1.UpdateWorkerRequest{Worker: &v1.Worker{Name: "张三", Phone: validMobile, ProviderId: 1}}, nil},
		{"update: valid, name, phone and provider name", &v1.UpdateWorkerRequest{Worker: &v1.Worker{Name: "张三", Phone: validMobile, ProviderName: "某某服务商"}}, nil},
		{"update: no provider", &v1.UpdateWorkerRequest{Worker: &v1.Worker{Name: "张三", Phone: validMobile}}, []string{"worker provider_id.or_name"}},
		{"update: worker missing", &v1.UpdateWorkerRequest{}, []string{"worker required"}},
		{"update: name, phone and provider missing", &v1.UpdateWorkerRequest{Worker: &v1.Worker{}}, []string{"worker provider_id.or_name", "worker.name required", "worker.phone required"}},
		{"update: name with NUL", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.Name = "张\x00三" }), []string{"worker.name string.printable_text"}},
		{"update: address with a bidi override", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.Address.AddressDetail = "文三路\u202e22号" }), []string{"worker.address.address_detail string.printable_text"}},
		{"update: picture with a newline", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.Photo = "https://img.example.com/a.jpg\n" }), []string{"worker.photo string.printable_text"}},
		{"update: service store code with a space", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.ServiceStoreCode = "FWS 1122" }), []string{"worker.service_store_code string.code"}},
		{"update: service code with an emoji", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.ServiceCodes = []string{"tv😀"} }), []string{"worker.service_codes[0] string.code"}},
		{"update: registered 1999-12-31 23:59 UTC+8", with(validUpdate, func(r *v1.UpdateWorkerRequest) {
			r.Worker.RegisterTime = timestamppb.New(time.Date(1999, 12, 31, 15, 59, 59, 0, time.UTC))
		}), []string{"worker.register_time timestamp.gte"}},
		{"update: valid, registered 2000-01-01 00:00 UTC+8", with(validUpdate, func(r *v1.UpdateWorkerRequest) {
			r.Worker.RegisterTime = timestamppb.New(time.Date(1999, 12, 31, 16, 0, 0, 0, time.UTC))
		}), nil},
		{"update: registered in year 1", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.RegisterTime = timestamppb.New(time.Time{}) }), []string{"worker.register_time timestamp.gte"}},
		{"update: valid, registered a day ahead", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.RegisterTime = timestamppb.New(today.Add(24 * time.Hour)) }), nil},
		{"update: registered two days ahead", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.RegisterTime = timestamppb.New(today.Add(48 * time.Hour)) }), []string{"worker.register_time register_time.not_future"}},
		{"update: name too long", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.Name = long(33) }), []string{"worker.name string.max_len"}},
		{"update: phone not a mobile", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.Phone = "1234567890" }), []string{"worker.phone string.mainland_mobile"}},
		{"update: identity_id wrong check character", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.IdentityId = "110105194912310021" }), []string{"worker.identity_id string.resident_id.check_character"}},
		{"update: identity_id lowercase x", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.IdentityId = "11010519491231002x" }), []string{"worker.identity_id string.resident_id.format"}},
		{"update: biz_type upper case", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.BizType = "Appliance_Install" }), []string{"worker.biz_type string.pattern"}},
		{"update: category id zero", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.CoverCategoryIds = []int64{123, 0} }), []string{"worker.cover_category_ids[1] int64.gt"}},
		{"update: category id twice", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.CoverCategoryIds = []int64{123, 123} }), []string{"worker.cover_category_ids repeated.unique"}},
		{"update: 101 category ids", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.CoverCategoryIds = ids(101) }), []string{"worker.cover_category_ids repeated.max_items"}},
		{"update: service code with |", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.ServiceCodes = []string{"a|b"} }), []string{"worker.service_codes[0] string.code", "worker.service_codes[0] string.not_contains"}},
		{"update: empty service code", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.ServiceCodes = []string{"a", ""} }), []string{"worker.service_codes[1] string.min_len"}},
		{"update: service code twice", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.ServiceCodes = []string{"a", "a"} }), []string{"worker.service_codes repeated.unique"}},
		{"update: empty service type", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.ServiceTypes = []string{""} }), []string{"worker.service_types[0] string.min_len"}},
		{"update: empty division name", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.ServiceAreas[0].DivisionNames[1] = "" }), []string{"worker.service_areas[0].division_names[1] string.min_len"}},
		{"update: 201 service areas", with(validUpdate, func(r *v1.UpdateWorkerRequest) {
			r.Worker.ServiceAreas = make([]*v1.Division, 201)
			for i := range r.Worker.ServiceAreas {
				r.Worker.ServiceAreas[i] = &v1.Division{}
			}
		}), []string{"worker.service_areas repeated.max_items"}},
		{"update: 9 address names", with(validUpdate, func(r *v1.UpdateWorkerRequest) {
			r.Worker.Address.AddressNames = slices.Repeat([]string{"区"}, 9)
		}), []string{"worker.address.address_names repeated.max_items"}},
		{"update: address detail too long", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.Address.AddressDetail = long(257) }), []string{"worker.address.address_detail string.max_len"}},
		{"update: provider_id negative", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.ProviderId = -1 }), []string{"worker.provider_id int64.gt"}},
		{"update: picture too long", with(validUpdate, func(r *v1.UpdateWorkerRequest) { r.Worker.IdCardPic = strings.Repeat("a", 1025) }), []string{"worker.id_card_pic string.max_len"}},

		// GetWorkerTags
		{"tags: valid", validTags(), nil},
		{"tags: valid, leap day 2000", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010120000229001") }), nil},
		{"tags: valid, born today in UTC+8", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010120250101001") }), nil},
		{"tags: valid, born 1900-01-01", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010119000101001") }), nil},
		{"tags: both missing", &v1.GetWorkerTagsRequest{}, []string{"id_number required", "mobile required"}},
		{"tags: mobile not a mobile", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.Mobile = "134521242" }), []string{"mobile string.mainland_mobile"}},
		{"tags: id of the API document's example", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = "124234242" }), []string{"id_number string.resident_id.format"}},
		{"tags: id lowercase x", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = "11010519491231002x" }), []string{"id_number string.resident_id.format"}},
		{"tags: id of 17 digits", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = validID[:17] }), []string{"id_number string.resident_id.format"}},
		{"tags: id of 19 characters", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = validID + "0" }), []string{"id_number string.resident_id.format"}},
		{"tags: id with X inside", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = "1101051949X231002X" }), []string{"id_number string.resident_id.format"}},
		{"tags: id with full-width digits", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = "１１０１０５１９４９１２３１００２X" }), []string{"id_number string.resident_id.format"}},
		{"tags: id wrong check character", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = "110105194912310020" }), []string{"id_number string.resident_id.check_character"}},
		{"tags: id born 1949-02-30", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010519490230002") }), []string{"id_number string.resident_id.birth_date"}},
		{"tags: id born 1900-02-29", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010119000229001") }), []string{"id_number string.resident_id.birth_date"}},
		{"tags: id born in month 13", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010119491301001") }), []string{"id_number string.resident_id.birth_date"}},
		{"tags: id born on day 0", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010119491200001") }), []string{"id_number string.resident_id.birth_date"}},
		{"tags: id born 1899", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010118991231001") }), []string{"id_number string.resident_id.birth_date"}},
		{"tags: id born tomorrow in UTC+8", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010120250102001") }), []string{"id_number string.resident_id.birth_date_future"}},
		{"tags: id born 2999", with(validTags, func(r *v1.GetWorkerTagsRequest) { r.IdNumber = residentID("11010129990101001") }), []string{"id_number string.resident_id.birth_date_future"}},
		{"tags: id with bad date and check", with(validTags, func(r *v1.GetWorkerTagsRequest) {
			r.IdNumber = residentID("11010519490230002")[:17] + "9"
		}), []string{"id_number string.resident_id.birth_date", "id_number string.resident_id.check_character"}},

		// SyncUserBlacklist
		{"sync: valid, every field", validSync(), nil},
		{"sync: valid, minimal", &v1.SyncUserBlacklistRequest{
			SupplierId: "10000000001", Blacklist: entries(1), OperateType: v1.OperateType_OPERATE_TYPE_DELETE,
		}, nil},
		{"sync: valid, 100 entries", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist = entries(100) }), nil},
		{"sync: valid, uuid request_id", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.RequestId = "0b7d5e2a-8c1f-4a9e-9f3d-2c6b1e0a7f45" }), nil},
		{"sync: nothing set", &v1.SyncUserBlacklistRequest{}, []string{"blacklist repeated.min_items", "operate_type required", "supplier_id required"}},
		{"sync: request_id with a space", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.RequestId = "a b" }), []string{"request_id string.pattern"}},
		{"sync: request_id too long", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.RequestId = strings.Repeat("1", 65) }), []string{"request_id string.pattern"}},
		{"sync: supplier_id too long", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.SupplierId = strings.Repeat("1", 65) }), []string{"supplier_id string.max_len"}},
		{"sync: supplier_id with NUL", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.SupplierId = "1000\x000001" }), []string{"supplier_id string.code"}},
		{"sync: supplier_id with an emoji", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.SupplierId = "1000😀" }), []string{"supplier_id string.code"}},
		{"sync: request_time in year 1", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.RequestTime = timestamppb.New(time.Time{}) }), []string{"request_time request_time.recent"}},
		{"sync: request_time in year 9999", with(validSync, func(r *v1.SyncUserBlacklistRequest) {
			r.RequestTime = timestamppb.New(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
		}), []string{"request_time request_time.recent"}},
		{"sync: request_time past the Timestamp range", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.RequestTime = &timestamppb.Timestamp{Seconds: 1e15} }), []string{"request_time request_time.recent"}},
		{"sync: request_time 8 days old", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.RequestTime = timestamppb.New(today.Add(-8 * 24 * time.Hour)) }), []string{"request_time request_time.recent"}},
		{"sync: valid, request_time 6 days old", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.RequestTime = timestamppb.New(today.Add(-6 * 24 * time.Hour)) }), nil},
		{"sync: request_time 2 days ahead", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.RequestTime = timestamppb.New(today.Add(48 * time.Hour)) }), []string{"request_time request_time.recent"}},
		{"sync: service_type 2", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.ServiceType = 2 }), []string{"service_type enum.defined_only"}},
		{"sync: ability_type 2", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.AbilityType = 2 }), []string{"ability_type enum.defined_only"}},
		{"sync: operate_type 3", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.OperateType = 3 }), []string{"operate_type enum.defined_only"}},
		{"sync: 101 entries", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist = entries(101) }), []string{"blacklist repeated.max_items"}},
		{"sync: mobile twice", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist[1].Mobile = r.Blacklist[0].Mobile }), []string{" blacklist.unique_mobile"}},
		{"sync: entry without mobile", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist[1].Mobile = "" }), []string{"blacklist[1].mobile required"}},
		{"sync: entry with a landline", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist[0].Mobile = "057188888888" }), []string{"blacklist[0].mobile string.mainland_mobile"}},
		{"sync: reason unspecified", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist[0].Reason = []v1.BlacklistReason{0} }), []string{"blacklist[0].reason[0] enum.not_in"}},
		{"sync: reason 6", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist[0].Reason = []v1.BlacklistReason{1, 6} }), []string{"blacklist[0].reason[1] enum.defined_only"}},
		{"sync: reason twice", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist[0].Reason = []v1.BlacklistReason{2, 2} }), []string{"blacklist[0].reason repeated.unique"}},
		{"sync: six reasons", with(validSync, func(r *v1.SyncUserBlacklistRequest) { r.Blacklist[0].Reason = []v1.BlacklistReason{1, 2, 3, 4, 5, 1} }), []string{"blacklist[0].reason repeated.max_items", "blacklist[0].reason repeated.unique"}},

		// ImportUserBlacklist: settings are checked, entries are not (the
		// server rejects bad entries one by one).
		{"import: settings", &v1.ImportUserBlacklistRequest{Settings: &v1.BlacklistSyncJobSettings{
			SupplierId: "10000000001", OperateType: v1.OperateType_OPERATE_TYPE_UPSERT}}, nil},
		{"import: entries only, bad ones too", &v1.ImportUserBlacklistRequest{Entries: importEntries(1000,
			&v1.BlacklistImportEntry{Mobile: "057188888888", Reason: []v1.BlacklistReason{0, 7, 7}})}, nil},
		{"import: settings without supplier or operate type", &v1.ImportUserBlacklistRequest{Settings: &v1.BlacklistSyncJobSettings{}},
			[]string{"settings.operate_type required", "settings.supplier_id required"}},
		{"import: settings with bad types", &v1.ImportUserBlacklistRequest{Settings: &v1.BlacklistSyncJobSettings{
			SupplierId: strings.Repeat("1", 65), OperateType: 3, ServiceType: 2, AbilityType: 2}},
			[]string{"settings.ability_type enum.defined_only", "settings.operate_type enum.defined_only", "settings.service_type enum.defined_only", "settings.supplier_id string.max_len"}},
		{"import: 1001 entries in one message", &v1.ImportUserBlacklistRequest{Entries: importEntries(1001)}, []string{"entries repeated.max_items"}},

		// Blacklist sync jobs
		{"job: get", &v1.GetBlacklistSyncJobRequest{JobId: "bj-3ktqz6pexmq2adt4hfyxbbjn"}, nil},
		{"job: get without id", &v1.GetBlacklistSyncJobRequest{}, []string{"job_id required"}},
		{"job: get with a slash", &v1.GetBlacklistSyncJobRequest{JobId: "bj/1"}, []string{"job_id string.pattern"}},
		{"rejections: list", &v1.ListRejectedEntriesRequest{JobId: "bj-3ktqz6pexmq2adt4hfyxbbjn", PageSize: 1000}, nil},
		{"rejections: without id", &v1.ListRejectedEntriesRequest{}, []string{"job_id required"}},
		{"rejections: page too large", &v1.ListRejectedEntriesRequest{JobId: "bj-1", PageSize: 1001}, []string{"page_size int32.gte_lte"}},
		{"job: cancel with a long id", &v1.CancelBlacklistSyncJobRequest{JobId: strings.Repeat("b", 65)}, []string{"job_id string.pattern"}},
		{"job: watch with a colon", &v1.WatchBlacklistSyncJobRequest{JobId: "bj:1"}, []string{"job_id string.pattern"}},
		{"job: list, everything", &v1.ListBlacklistSyncJobsRequest{State: v1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_FAILED,
			SupplierId: "10000000001", PageSize: 1000, PageToken: "x"}, nil},
		{"job: list, bad", &v1.ListBlacklistSyncJobsRequest{State: 9, SupplierId: strings.Repeat("1", 65), PageSize: 1001},
			[]string{"page_size int32.gte_lte", "state enum.defined_only", "supplier_id string.max_len"}},
		{"job: list, supplier with a quote", &v1.ListBlacklistSyncJobsRequest{SupplierId: "1'"}, []string{"supplier_id string.code"}},
		{"import: settings with a supplier holding a space", &v1.ImportUserBlacklistRequest{Settings: &v1.BlacklistSyncJobSettings{
			SupplierId: "1 0", OperateType: v1.OperateType_OPERATE_TYPE_UPSERT}}, []string{"settings.supplier_id string.code"}},
	}
	v := newValidator(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(t, v, tt.msg); !slices.Equal(got, tt.want) {
				t.Errorf("violations:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// wantResidentID returns the rule ids the id_number rules should report
// for s, computed without CEL.
func wantResidentID(s string) []string {
	if s == "" {
		return []string{"required"}
	}
	if len(s) != 18 || strings.Trim(s[:17], "0123456789") != "" || !strings.Contains("0123456789X", s[17:]) {
		return []string{"string.resident_id.format"}
	}
	var out []string
	y, _ := strconv.Atoi(s[6:10])
	m, _ := strconv.Atoi(s[10:12])
	d, _ := strconv.Atoi(s[12:14])
	if date := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC); y < 1900 || m < 1 || m > 12 || date.Day() != d {
		out = append(out, "string.resident_id.birth_date")
	}
	born, _ := strconv.Atoi(s[6:14])
	if y, m, d := today.Date(); born > y*10000+int(m)*100+d {
		out = append(out, "string.resident_id.birth_date_future")
	}
	if residentID(s[:17]) != s {
		out = append(out, "string.resident_id.check_character")
	}
	slices.Sort(out)
	return out
}

// idViolations returns the rule ids reported for id_number.
func idViolations(t testing.TB, v protovalidate.Validator, id string) []string {
	t.Helper()
	var out []string
	for _, viol := range violations(t, v, &v1.GetWorkerTagsRequest{IdNumber: id, Mobile: validMobile}) {
		field, rule, _ := strings.Cut(viol, " ")
		if field != "id_number" {
			t.Fatalf("unexpected violation %q", viol)
		}
		out = append(out, rule)
	}
	return out
}

// TestResidentIDBirthDates sweeps days 0..32 of months 0..13 of years
// around the edges (1899, 1900 not a leap year, 2000 a leap year, the
// current year) and compares the CEL rules with wantResidentID.
func TestResidentIDBirthDates(t *testing.T) {
	v := newValidator(t)
	for _, year := range []int{1899, 1900, 1904, 1999, 2000, 2023, 2024, 2025} {
		for month := 0; month <= 13; month++ {
			for day := 0; day <= 32; day++ {
				id := residentID(fmt.Sprintf("110105%04d%02d%02d003", year, month, day))
				if got, want := idViolations(t, v, id), wantResidentID(id); !slices.Equal(got, want) {
					t.Errorf("%04d-%02d-%02d: got %q, want %q", year, month, day, got, want)
				}
			}
		}
	}
}

// FuzzResidentID compares the CEL rules with wantResidentID on any text;
// `go test` runs the seeds, `go test -fuzz FuzzResidentID` explores.
func FuzzResidentID(f *testing.F) {
	for _, s := range []string{"", validID, "11010519491231002x", "110105194912310020", "11010519490230002X",
		"000000000000000000", "99999999999999999X", "XXXXXXXXXXXXXXXXXX", "11010519491231002X\n", "1101051949123100２X"} {
		f.Add(s)
	}
	v := newValidator(f)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := idViolations(t, v, s), wantResidentID(s); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", s, got, want)
		}
	})
}
