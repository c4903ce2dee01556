package validation

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// violationsOf returns err's violations as "field rule_id" strings.
func violationsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("not a validation error: %v", err)
	}
	var out []string
	for _, v := range verr.Violations {
		out = append(out, protovalidate.FieldPathString(v.Proto.GetField())+" "+v.Proto.GetRuleId())
	}
	return out
}

func syncOf(n int) *scv1.SyncUserBlacklistRequest {
	r := &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}
	for i := range n {
		r.Blacklist = append(r.Blacklist, &scv1.BlacklistEntry{Mobile: fmt.Sprintf("139%08d", i)})
	}
	return r
}

func workerWith(f func(w *scv1.Worker)) *scv1.UpdateWorkerRequest {
	w := &scv1.Worker{Name: "张三", Phone: "13712345678", ProviderId: 1}
	f(w)
	return &scv1.UpdateWorkerRequest{Worker: w}
}

// TestOverLimit: a list over its max_items is refused with protovalidate's
// own violation and nothing else, however long it is.
func TestOverLimit(t *testing.T) {
	plain, v := plainValidator(t), newValidator(t)
	tests := []struct {
		name  string
		msg   proto.Message
		field string
	}{
		{"101 entries", syncOf(101), "blacklist"},
		{"270,000 entries, all invalid", func() proto.Message {
			r := syncOf(270_000)
			for _, e := range r.GetBlacklist() {
				e.Mobile = "1"
			}
			return r
		}(), "blacklist"},
		{"101 category ids", workerWith(func(w *scv1.Worker) {
			for i := range 101 {
				w.CoverCategoryIds = append(w.CoverCategoryIds, int64(i+1))
			}
		}), "worker.cover_category_ids"},
		{"9 address names", workerWith(func(w *scv1.Worker) {
			w.Address = &scv1.Address{AddressNames: strings.Split("a b c d e f g h i", " ")}
		}), "worker.address.address_names"},
		{"1001 import entries", &scv1.ImportUserBlacklistRequest{Entries: make([]*scv1.BlacklistImportEntry, 1001)}, "entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate(tt.msg)
			var verr *protovalidate.ValidationError
			if !errors.As(err, &verr) || len(verr.Violations) != 1 {
				t.Fatalf("want exactly one violation, got %v", violationsOf(t, err))
			}
			got := verr.Violations[0].Proto
			if f := protovalidate.FieldPathString(got.GetField()); f != tt.field || got.GetRuleId() != "repeated.max_items" {
				t.Fatalf("violation %s %s, want %s repeated.max_items", f, got.GetRuleId(), tt.field)
			}
		})
	}
	// The violation is the one protovalidate reports, path, rule and words.
	for _, msg := range []proto.Message{tests[0].msg, tests[2].msg, tests[3].msg} {
		var mine, theirs *protovalidate.ValidationError
		if !errors.As(v.Validate(msg), &mine) || !errors.As(plain.Validate(msg), &theirs) {
			t.Fatal("no validation error")
		}
		found := false
		for _, p := range theirs.Violations {
			found = found || proto.Equal(p.Proto, mine.Violations[0].Proto)
		}
		if !found {
			t.Errorf("%v is not among protovalidate's %v", mine.Violations[0].Proto, theirs)
		}
	}
}

func assignWithExt(v *structpb.Value) *scv1.AssignWorkerRequest {
	return &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567,
		ExtJson: &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("x"), "deep": v}}}
}

// lists is n lists, one inside the other, around a number.
func lists(n int) *structpb.Value {
	v := structpb.NewNumberValue(1)
	for range n {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewBoolValue(true), v}})
	}
	return v
}

// objects is n objects {"a": ...}, one inside the other, around a string.
func objects(n int) *structpb.Value {
	v := structpb.NewStringValue("x")
	for range n {
		v = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"a": v, "b": structpb.NewNullValue()}})
	}
	return v
}

// TestJSONDepth: ext_json nests at most MaxJSONDepth levels, its own
// object included.
func TestJSONDepth(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name string
		msg  proto.Message
		want []string
	}{
		{"flat", assignWithExt(structpb.NewNumberValue(1)), nil},
		{"32 levels of lists", assignWithExt(lists(MaxJSONDepth - 1)), nil},
		{"33 levels of lists", assignWithExt(lists(MaxJSONDepth)), []string{"ext_json struct.max_depth"}},
		{"32 levels of objects", assignWithExt(objects(MaxJSONDepth - 1)), nil},
		{"33 levels of objects", assignWithExt(objects(MaxJSONDepth)), []string{"ext_json struct.max_depth"}},
		{"too deep and other violations", func() proto.Message {
			r := assignWithExt(objects(40))
			r.WorkcardId = -1
			return r
		}(), []string{"workcard_id int64.gt", "ext_json struct.max_depth"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violationsOf(t, v.Validate(tt.msg)); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("violations %q, want %q", got, tt.want)
			}
		})
	}
	if d := jsonDepth(objects(1000).GetStructValue(), MaxJSONDepth); d != MaxJSONDepth+1 {
		t.Fatalf("jsonDepth stops at %d, want %d", d, MaxJSONDepth+1)
	}
}

// TestMessageRuleFields: a message rule's violation names its field.
func TestMessageRuleFields(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name string
		msg  proto.Message
		want []string
	}{
		{"no worker to assign", &scv1.AssignWorkerRequest{WorkcardId: 2345678}, []string{"target_worker_id target_worker_id.or_mobile"}},
		{"store without its id", &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1, Type: scv1.OperatorType_OPERATOR_TYPE_STORE},
			[]string{"service_store_id service_store_id.for_store"}},
		{"worker without provider", workerWith(func(w *scv1.Worker) { w.ProviderId = 0 }), []string{"worker.provider_id provider_id.or_name"}},
		{"mobile twice", func() proto.Message {
			r := syncOf(2)
			r.Blacklist[1].Mobile = r.Blacklist[0].Mobile
			return r
		}(), []string{"blacklist blacklist.unique_mobile"}},
		{"audit range backwards", &scv1.ListAuditEventsRequest{StartTime: timestamppb.New(testNow), EndTime: timestamppb.New(testNow.Add(-1))},
			[]string{"end_time end_time.after_start_time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violationsOf(t, v.Validate(tt.msg)); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("violations %q, want %q", got, tt.want)
			}
		})
	}
}

// TestMessageRuleIDsNameAField holds every message rule of the
// servicecenter.v1 contracts to the convention nameMessageRuleFields
// relies on: its id starts with the name of a field of its message.
func TestMessageRuleIDsNameAField(t *testing.T) {
	checked := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("servicecenter.v1", func(fd protoreflect.FileDescriptor) bool {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			md := msgs.Get(i)
			rules, _ := proto.GetExtension(md.Options(), validate.E_Message).(*validate.MessageRules)
			for _, r := range rules.GetCel() {
				checked++
				name, _, ok := strings.Cut(r.GetId(), ".")
				if !ok || md.Fields().ByName(protoreflect.Name(name)) == nil {
					t.Errorf("%s: message rule %q does not start with a field's name", md.FullName(), r.GetId())
				}
			}
		}
		return true
	})
	if checked < 5 {
		t.Fatalf("only %d message rules found", checked)
	}
}

// BenchmarkValidateOversizedSync: a sync of 270,000 entries, protovalidate
// alone and Validator.
func BenchmarkValidateOversizedSync(b *testing.B) {
	msg := syncOf(270_000)
	for _, c := range []struct {
		name string
		v    protovalidate.Validator
	}{{"protovalidate", plainValidator(b)}, {"validation", newValidator(b)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if c.v.Validate(msg) == nil {
					b.Fatal("valid")
				}
			}
		})
	}
}
