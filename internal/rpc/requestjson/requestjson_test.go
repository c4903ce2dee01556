package requestjson

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// requests are one message of each request type the tests decode into:
// the flat ones and some Decode must leave to protojson.
func requests() []proto.Message {
	return []proto.Message{
		&scv1.GetWorkerTagsRequest{}, &scv1.AssignWorkerRequest{}, &scv1.BindVirtualPhoneRequest{},
		&scv1.UpdateWorkerRequest{}, &scv1.SyncUserBlacklistRequest{}, &structpb.Struct{},
	}
}

// check holds Decode to protojson for data into a message like m: when
// Decode accepts data, protojson accepts it and makes an equal message;
// it reports whether Decode accepted data.
func check(t *testing.T, data []byte, m proto.Message) bool {
	t.Helper()
	got := m.ProtoReflect().New().Interface()
	ok := Decode(data, got)
	want := m.ProtoReflect().New().Interface()
	err := protojson.UnmarshalOptions{}.Unmarshal(data, want)
	if !ok {
		if !proto.Equal(got, m.ProtoReflect().New().Interface()) {
			t.Fatalf("Decode(%q) into %T refused but changed the message: %v", data, m, got)
		}
		return false
	}
	if err != nil {
		t.Fatalf("Decode accepted %q into %T, which protojson refuses: %v", data, m, err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("Decode(%q) into %T = %v; protojson makes %v", data, m, got, want)
	}
	return true
}

// bodies are request bodies good and bad, for the table and the fuzz
// corpus.
var bodies = []string{
	`{"id_number":"11010519491231002X","mobile":"13245678901"}`,
	`{"idNumber":"11010519491231002X","mobile":"13245678901"}`,
	" \t\r\n{ \"mobile\" : \"139\" , \"id_number\":\"x\" } \n",
	`{}`, `{ }`, ``, ` `, `[]`, `null`, `{`, `}`, `{"mobile":"1"`, `{"mobile":"1",}`, `{,}`,
	`{"mobile":"1"}{"mobile":"2"}`, `{"mobile":"1"} x`, `{"mobile":"1"}}`,
	`{"mobile":"1","mobile":"2"}`, `{"id_number":"1","idNumber":"2"}`, `{"mobile":null}`,
	`{"mobile":"a\"b"}`, `{"mobile":"a\u0041"}`, "{\"mobile\":\"a\tb\"}", `{"mobile":"服务 ✓"}`, "{\"mobile\":\"\xff\"}",
	`{"mobile":1}`, `{"mobile":true}`, `{"Mobile":"1"}`, `{"mobil":"1"}`, `{"mob\u0069le":"1"}`, `{"[x]":"1"}`,
	`{"target_worker_id":"1234567","type":"OPERATOR_TYPE_PROVIDER","fulfil_task_id":"1898"}`,
	`{"targetWorkerId":1234567,"type":"OPERATOR_TYPE_STORE","fulfilTaskId":1898,"outerId":"o"}`,
	`{"target_worker_mobile":"13245678901","fulfil_task_id":"1898"}`,
	`{"workcard_id":"9223372036854775807"}`, `{"workcard_id":"9223372036854775808"}`, `{"workcard_id":-9223372036854775808}`,
	`{"workcard_id":"-0"}`, `{"workcard_id":-0}`, `{"workcard_id":"01"}`, `{"workcard_id":01}`, `{"workcard_id":1.0}`,
	`{"workcard_id":1e3}`, `{"workcard_id":"1e3"}`, `{"workcard_id":" 1"}`, `{"workcard_id":"+1"}`, `{"workcard_id":-}`,
	`{"workcard_id":"0x10"}`, `{"workcard_id":true}`, `{"workcard_id":1x}`,
	`{"type":"OPERATOR_TYPE_UNSPECIFIED"}`, `{"type":2}`, `{"type":"operator_type_store"}`, `{"type":"NOPE"}`,
	`{"ext_json":{"carNumber":"1234"}}`, `{"ext_json":null}`,
	`{"request_source":{"service_store_code":"FWS1122"}}`, `{"worker":{"name":"x"}}`,
	`{"supplier_id":"1","blacklist":[]}`, `{"k":"v"}`,
}

// TestDecodeMatchesProtojson: every body above, into every request
// type, decodes as protojson decodes it or is left to protojson; the
// common bodies are decoded.
func TestDecodeMatchesProtojson(t *testing.T) {
	for _, body := range bodies {
		for _, m := range requests() {
			check(t, []byte(body), m)
		}
	}
	tests := []struct {
		body string
		m    proto.Message
		want proto.Message
	}{
		{`{"id_number":"11010519491231002X","mobile":"13245678901"}`, &scv1.GetWorkerTagsRequest{},
			&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}},
		{`{"target_worker_id":"1234567","type":"OPERATOR_TYPE_PROVIDER","fulfil_task_id":"1898"}`, &scv1.AssignWorkerRequest{},
			&scv1.AssignWorkerRequest{TargetWorkerId: 1234567, Type: scv1.OperatorType_OPERATOR_TYPE_PROVIDER, FulfilTaskId: 1898}},
		{`{"targetWorkerMobile":"13245678901","fulfilTaskId":-1898}`, &scv1.AssignWorkerRequest{},
			&scv1.AssignWorkerRequest{TargetWorkerMobile: "13245678901", FulfilTaskId: -1898}},
		{`{}`, &scv1.AssignWorkerRequest{}, &scv1.AssignWorkerRequest{}},
	}
	for _, tt := range tests {
		got := tt.m.ProtoReflect().New().Interface()
		if !Decode([]byte(tt.body), got) {
			t.Fatalf("Decode(%s) left it to protojson", tt.body)
		}
		if !proto.Equal(got, tt.want) {
			t.Fatalf("Decode(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

// TestDecodeResets: a decoded message holds only the body's fields, as
// protojson.Unmarshal resets it first.
func TestDecodeResets(t *testing.T) {
	m := &scv1.GetWorkerTagsRequest{IdNumber: "old", Mobile: "old"}
	if !Decode([]byte(`{"mobile":"new"}`), m) || m.GetIdNumber() != "" || m.GetMobile() != "new" {
		t.Fatalf("Decode into a used message = %v", m)
	}
}

// FuzzDecode holds Decode to protojson on any body, into each request
// type.
func FuzzDecode(f *testing.F) {
	for _, b := range bodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range requests() {
			check(t, data, m)
		}
	})
}

// BenchmarkDecode decodes the generator's GetWorkerTags and AssignWorker
// bodies with Decode and with protojson, side by side.
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
		m    proto.Message
	}{
		{"GetWorkerTags", []byte(`{"id_number":"11010519491231002X","mobile":"13245678901"}`), &scv1.GetWorkerTagsRequest{}},
		{"AssignWorker", []byte(`{"target_worker_id":"1234567","type":"OPERATOR_TYPE_PROVIDER","fulfil_task_id":"1898"}`), &scv1.AssignWorkerRequest{}},
	} {
		b.Run(c.name+"/requestjson", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !Decode(c.body, c.m.ProtoReflect().New().Interface()) {
					b.Fatal("left to protojson")
				}
			}
		})
		b.Run(c.name+"/protojson", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := protojson.Unmarshal(c.body, c.m.ProtoReflect().New().Interface()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
