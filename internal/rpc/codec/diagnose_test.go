package codec

import (
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendBytes appends field num as a length-delimited field holding v.
func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// nestedLists is a Value holding n lists, one inside the other, around a
// string.
func nestedLists(n int, leaf string) *structpb.Value {
	v := structpb.NewStringValue(leaf)
	for range n {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	return v
}

// nestedObjects is a Value holding n objects {"a": ...} around a number.
func nestedObjects(n int) *structpb.Value {
	v := structpb.NewNumberValue(1)
	for range n {
		v = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"a": v}})
	}
	return v
}

func assignWith(ext *structpb.Value) *scv1.AssignWorkerRequest {
	return &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567,
		ExtJson: &structpb.Struct{Fields: map[string]*structpb.Value{"k": ext}}}
}

func TestDiagnose(t *testing.T) {
	good := marshal(t, &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567})
	// A Struct whose one string value is replaced by invalid UTF-8 after
	// marshaling: "\xffX" stands in for the 2-byte "ok".
	deepStr := marshal(t, assignWith(nestedLists(3, "ok")))
	deepStr = []byte(strings.Replace(string(deepStr), "ok", "\xffX", 1))
	mapKey := marshal(t, &scv1.AssignWorkerRequest{ExtJson: &structpb.Struct{Fields: map[string]*structpb.Value{"kk": structpb.NewBoolValue(true)}}})
	mapKey = []byte(strings.Replace(string(mapKey), "kk", "k\xfe", 1))
	phoneKey := marshal(t, &scv1.AssignWorkerRequest{ExtJson: &structpb.Struct{Fields: map[string]*structpb.Value{"13812345678": structpb.NewStringValue("ok")}}})
	phoneKey = []byte(strings.Replace(string(phoneKey), "ok", "\xff\xff", 1))
	blacklist := marshal(t, &scv1.SyncUserBlacklistRequest{SupplierId: "1", Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}, {Mobile: "13900000002"}}})
	blacklist = []byte(strings.Replace(string(blacklist), "13900000002", "1390000000\xff", 1))
	packed := marshal(t, &scv1.UpdateWorkerRequest{Worker: &scv1.Worker{Name: "n"}})
	packedWorker := appendBytes(nil, 8, []byte("n"))
	packedWorker = appendBytes(packedWorker, 3, []byte{0x80, 0x80}) // cover_category_ids: a varint cut short
	packed = appendBytes(nil, 1, packedWorker)

	tests := []struct {
		name   string
		msg    protoreflect.MessageDescriptor
		b      []byte
		reason string
		field  string
		desc   string
	}{
		{"invalid UTF-8 in a top-level string", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			appendBytes(append([]byte(nil), good...), 2, []byte("ab\xff")), ReasonInvalidUTF8, "outer_id", "the string is not valid UTF-8"},
		{"invalid UTF-8 in a repeated message", (&scv1.SyncUserBlacklistRequest{}).ProtoReflect().Descriptor(),
			blacklist, ReasonInvalidUTF8, "blacklist[1].mobile", "not valid UTF-8"},
		{"invalid UTF-8 deep in a Struct (the path is cut after 8 steps)", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			deepStr, ReasonInvalidUTF8, `ext_json.fields["k"].list_value.values[0].list_value.values[0].list_value.values[0]…`, "not valid UTF-8"},
		{"invalid UTF-8 in a map key", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			mapKey, ReasonInvalidUTF8, "ext_json.fields", "a map key is not valid UTF-8"},
		{"a phone number as a map key is masked", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			phoneKey, ReasonInvalidUTF8, `ext_json.fields["138****5678"].string_value`, "not valid UTF-8"},
		{"a length past the end", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			append(protowire.AppendTag(append([]byte(nil), good...), 2, protowire.BytesType), 10, 'a', 'b'), ReasonMalformed, "outer_id", "unexpected EOF"},
		{"a truncated varint", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			good[:len(good)-1], ReasonMalformed, "", "unexpected EOF"},
		{"garbage", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ReasonMalformed, "", "not valid protobuf wire data"},
		{"field number 0", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			[]byte{0x00, 0x01}, ReasonMalformed, "", "invalid field number"},
		{"field number over the maximum", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			protowire.AppendVarint(protowire.AppendTag(nil, protowire.MaxValidNumber, protowire.VarintType)[:0], uint64(protowire.MaxValidNumber+1)<<3), ReasonMalformed, "", "invalid field number"},
		{"a stray end-group", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			protowire.AppendTag(nil, 7, protowire.EndGroupType), ReasonMalformed, "", "not valid protobuf wire data"},
		{"a broken packed list", (&scv1.UpdateWorkerRequest{}).ProtoReflect().Descriptor(),
			packed, ReasonMalformed, "worker.cover_category_ids", "unexpected EOF"},
		{"ext_json 6000 lists deep", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			marshal(t, assignWith(nestedLists(6000, "x"))), ReasonTooDeep, "ext_json", "nested more than 100 levels deep"},
		{"ext_json 33 objects deep", (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(),
			marshal(t, assignWith(nestedObjects(33))), ReasonTooDeep, "ext_json", "nested more than 100 levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMessage(tt.msg)
			err := proto.UnmarshalOptions{RecursionLimit: MaxDepth}.Unmarshal(tt.b, m)
			if err == nil {
				t.Fatal("the input decodes; the test case is wrong")
			}
			f, ok := walkMessage(tt.b, tt.msg, 1, 0, nil)
			if !ok {
				t.Fatalf("walk found nothing; protobuf-go says %v", err)
			}
			if f.reason != tt.reason || f.field != tt.field || !strings.Contains(f.desc, tt.desc) {
				t.Fatalf("got %s %q %q, want %s %q containing %q", f.reason, f.field, f.desc, tt.reason, tt.field, tt.desc)
			}
			if strings.Contains(f.desc, "proto:") {
				t.Errorf("description %q carries protobuf-go's prefix", f.desc)
			}
			if f.offset < 0 || f.offset > len(tt.b) {
				t.Fatalf("offset %d outside the %d-byte message", f.offset, len(tt.b))
			}
		})
	}
}

func newMessage(md protoreflect.MessageDescriptor) proto.Message {
	for _, m := range []proto.Message{&scv1.AssignWorkerRequest{}, &scv1.SyncUserBlacklistRequest{}, &scv1.UpdateWorkerRequest{}, &scv1.ImportUserBlacklistRequest{}} {
		if m.ProtoReflect().Descriptor() == md {
			return m
		}
	}
	panic("no message type " + md.FullName())
}

// agrees checks that the walk finds a problem exactly when protobuf-go
// (with MaxDepth) refuses b.
func agrees(t *testing.T, md protoreflect.MessageDescriptor, b []byte) {
	t.Helper()
	err := proto.UnmarshalOptions{RecursionLimit: MaxDepth}.Unmarshal(b, newMessage(md))
	f, found := walkMessage(b, md, 1, 0, nil)
	if (err != nil) != found {
		t.Fatalf("protobuf-go: %v; walk: %v %+v; input %x", err, found, f, b)
	}
}

// TestDiagnoseDepthAgrees: around the limit, the walk counts levels as
// protobuf-go does, for lists and objects; 32 levels of objects in
// ext_json (validation.MaxJSONDepth) decode.
func TestDiagnoseDepthAgrees(t *testing.T) {
	md := (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor()
	for n := 0; n <= 60; n++ {
		agrees(t, md, marshal(t, assignWith(nestedLists(n, "x"))))
		agrees(t, md, marshal(t, assignWith(nestedObjects(n))))
	}
	deepest := &scv1.AssignWorkerRequest{ExtJson: nestedObjects(32).GetStructValue()}
	if err := (proto.UnmarshalOptions{RecursionLimit: MaxDepth}).Unmarshal(marshal(t, deepest), &scv1.AssignWorkerRequest{}); err != nil {
		t.Fatalf("ext_json of 32 objects does not decode: %v", err)
	}
}

// TestDiagnoseMutationsAgree corrupts valid requests byte by byte
// (deterministically) and checks the walk against protobuf-go.
func TestDiagnoseMutationsAgree(t *testing.T) {
	seeds := []proto.Message{
		assignWith(nestedLists(3, "ok")),
		&scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001", Reason: []scv1.BlacklistReason{1, 2}}}},
		&scv1.UpdateWorkerRequest{Worker: &scv1.Worker{Name: "张三", Phone: "13712345678", CoverCategoryIds: []int64{123, 456}, ServiceCodes: []string{"a", "b"}}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, seed := range seeds {
		md := seed.ProtoReflect().Descriptor()
		b := marshal(t, seed)
		for range 3000 {
			c := append([]byte(nil), b...)
			switch rng.IntN(3) {
			case 0:
				c[rng.IntN(len(c))] = byte(rng.IntN(256))
			case 1:
				c = c[:rng.IntN(len(c))]
			default:
				i := rng.IntN(len(c))
				c = append(c[:i], append([]byte{byte(rng.IntN(256))}, c[i:]...)...)
			}
			agrees(t, md, c)
		}
	}
}

// FuzzDiagnose holds the walk to protobuf-go on any input.
func FuzzDiagnose(f *testing.F) {
	f.Add(marshal(f, assignWith(nestedLists(40, "x"))))
	f.Add(marshal(f, assignWith(nestedObjects(3))))
	f.Add([]byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		agrees(t, (&scv1.AssignWorkerRequest{}).ProtoReflect().Descriptor(), b)
	})
}
