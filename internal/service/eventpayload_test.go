package service

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/events"
)

func TestEventToProto(t *testing.T) {
	stored := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	published := time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC)
	base := func() *scv1.Event {
		return &scv1.Event{
			Cursor: 7, MessageId: 99, UserId: 42, UserNick: "shop", PublisherAppKey: "4272", DataId: "5",
			PublishTime: timestamppb.New(published), StoreTime: timestamppb.New(stored),
		}
	}
	with := func(topic string, set func(*scv1.Event)) *scv1.Event {
		e := base()
		e.Topic = topic
		set(e)
		return e
	}
	raw := func(m map[string]any) *scv1.Event_Raw {
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return &scv1.Event_Raw{Raw: s}
	}
	tests := []struct {
		name, topic, content string
		want                 *scv1.Event
	}{
		{"status update, numbers as numbers and strings, China time", "tmall_fuwu_WorkcardStatusUpdate",
			`{"workcard_id":"9007199254740993","action":"complete","comment":"done","status":4,"tp_id":77,"type":1,
			  "update_date":"2026-01-02 11:04:05","used_service_count":2.0,"unknown":"ignored"}`,
			with("tmall_fuwu_WorkcardStatusUpdate", func(e *scv1.Event) {
				e.Payload = &scv1.Event_TmallFuwuWorkcardStatusUpdate{TmallFuwuWorkcardStatusUpdate: &scv1.TmallFuwuWorkcardStatusUpdate{
					WorkcardId: 9007199254740993, Action: "complete", Comment: "done", Status: 4, TpId: 77, Type: 1,
					UpdateDate: timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), UsedServiceCount: 2,
				}}
			})},
		{"workcard info, result as an object", "tmall_fuwu_WorkcardInfo",
			`{"result":{"workcard_id":5},"buyer_location":330100,"auction_sku_properties":"color:red"}`,
			with("tmall_fuwu_WorkcardInfo", func(e *scv1.Event) {
				e.Payload = &scv1.Event_TmallFuwuWorkcardInfo{TmallFuwuWorkcardInfo: &scv1.TmallFuwuWorkcardInfo{
					Result: `{"workcard_id":5}`, BuyerLocation: 330100, AuctionSkuProperties: "color:red",
				}}
			})},
		{"epoch milliseconds, repeated ids, null", "alibaba_serviceplatform_FulfilTask",
			`{"fulfil_task_id":3,"action":"create","update_date":1767322800000,"workcard_ids":[1,"2"],"biz_code":null}`,
			with("alibaba_serviceplatform_FulfilTask", func(e *scv1.Event) {
				e.Payload = &scv1.Event_AlibabaServiceplatformFulfilTask{AlibabaServiceplatformFulfilTask: &scv1.AlibabaServiceplatformFulfilTask{
					FulfilTaskId: 3, Action: "create", UpdateDate: timestamppb.New(time.UnixMilli(1767322800000)), WorkcardIds: []int64{1, 2},
				}}
			})},
		{"RFC 3339 time, a decimal", "tmall_fuwu_SettleSupplierFcBill",
			`{"amount":1000,"details":"x","platform_commission_rate":0.05,"workcard_id":8}`,
			with("tmall_fuwu_SettleSupplierFcBill", func(e *scv1.Event) {
				e.Payload = &scv1.Event_TmallFuwuSettleSupplierFcBill{TmallFuwuSettleSupplierFcBill: &scv1.TmallFuwuSettleSupplierFcBill{
					Amount: 1000, Details: "x", PlatformCommissionRate: 0.05, WorkcardId: 8,
				}}
			})},
		{"a typed topic whose content does not fit: raw", "tmall_fuwu_WorkcardStatusUpdate",
			`{"workcard_id":"abc"}`,
			with("tmall_fuwu_WorkcardStatusUpdate", func(e *scv1.Event) { e.Payload = raw(map[string]any{"workcard_id": "abc"}) })},
		{"an untyped topic: raw", "taobao_trade_TradeCreate", `{"tid":1,"x":{"y":[true]}}`,
			with("taobao_trade_TradeCreate", func(e *scv1.Event) {
				e.Payload = raw(map[string]any{"tid": 1, "x": map[string]any{"y": []any{true}}})
			})},
		{"not JSON: text", "tmall_fuwu_WorkcardInfo", `<xml/>`,
			with("tmall_fuwu_WorkcardInfo", func(e *scv1.Event) { e.Payload = &scv1.Event_RawText{RawText: "<xml/>"} })},
		{"a JSON array: text", "x", `[1]`,
			with("x", func(e *scv1.Event) { e.Payload = &scv1.Event_RawText{RawText: "[1]"} })},
		{"an empty status change", "tmall_fuwu_WorkcardStatusChange", `{}`,
			with("tmall_fuwu_WorkcardStatusChange", func(e *scv1.Event) {
				e.Payload = &scv1.Event_TmallFuwuWorkcardStatusChange{TmallFuwuWorkcardStatusChange: &scv1.TmallFuwuWorkcardStatusChange{}}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := events.Event{Cursor: 7, MessageID: 99, Topic: tt.topic, UserID: 42, UserNick: "shop", PublisherAppKey: "4272",
				DataID: "5", PublishTime: published, StoredTime: stored, Content: []byte(tt.content)}
			if diff := cmp.Diff(tt.want, EventToProto(e, false), protocmp.Transform()); diff != "" {
				t.Errorf("EventToProto (-want +got):\n%s", diff)
			}
			if got := EventToProto(e, true).GetContent(); got != tt.content {
				t.Errorf("with content: %q, want %q", got, tt.content)
			}
		})
	}
}

// TestTypedTopics: every topic of the protocol notes' section 6 has its
// typed payload (the tmctopic options), and no two payloads claim one.
func TestTypedTopics(t *testing.T) {
	if n := len(TypedTopics()); n != 32 {
		t.Errorf("%d typed topics, want the 32 of tmc-protocol.md section 6", n)
	}
	for _, topic := range []string{"tmall_fuwu_WorkcardInfo", "tmall_servicecenter_TaskUpdate", "fuwu_confirm_Fail", "alibaba_serviceplatform_ServiceOrder"} {
		if _, ok := payloadFields[topic]; !ok {
			t.Errorf("no typed payload for %s", topic)
		}
	}
}
