package validation

import (
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// benchRequests are valid requests of the hot RPCs: scdbench's
// AssignWorker, one with every string and ext_json set, UpdateWorker and
// BindVirtualPhone.
func benchRequests() []struct {
	name string
	msg  proto.Message
} {
	return []struct {
		name string
		msg  proto.Message
	}{
		{"GetWorkerTags", &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}},
		{"AssignWorker", &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567,
			Type: scv1.OperatorType_OPERATOR_TYPE_PROVIDER, FulfilTaskId: 1898}},
		{"AssignWorkerFull", &scv1.AssignWorkerRequest{WorkcardId: 2345678, OuterId: "test12345", TargetWorkerMobile: "13245678901",
			Type: scv1.OperatorType_OPERATOR_TYPE_STORE, ServiceStoreId: 77, TargetWorkerName: "张师傅", FulfilTaskId: 1898,
			ExtJson: &structpb.Struct{Fields: map[string]*structpb.Value{"carNumber": structpb.NewStringValue("1234")}}}},
		{"UpdateWorker", &scv1.UpdateWorkerRequest{Worker: &scv1.Worker{Name: "张师傅", Phone: "13245678901", ProviderId: 1,
			IdentityId: "11010519491231002X", CoverCategoryIds: []int64{1, 2}}}},
		{"BindVirtualPhone", &scv1.BindVirtualPhoneRequest{WorkcardId: 2345678,
			RequestSource: &scv1.WorkcardRequestSource{RealTpNick: "天猫服务商XXX", ServiceStoreCode: "FWS1122"}}},
	}
}

// BenchmarkValidateRequests compares protovalidate alone with Validator on
// valid requests of the hot RPCs.
func BenchmarkValidateRequests(b *testing.B) {
	for _, r := range benchRequests() {
		for _, c := range []struct {
			name string
			v    protovalidate.Validator
		}{{"protovalidate", plainValidator(b)}, {"validation", newValidator(b)}} {
			b.Run(r.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := c.v.Validate(r.msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
