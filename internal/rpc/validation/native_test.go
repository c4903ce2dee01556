package validation

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// edgeStrings are values around the edges of every string rule.
var edgeStrings = []string{
	"", "a", "test12345", "张师傅", "天猫服务商XXX", "a b", " ", "\t", "a\nb", "x\u200by", "\u0085", "\u00a0", "\x7f", "\x00",
	"\u202e", "\ufeff", "😀", "13245678901", "12345678901", "1324567890", "11010519491231002X", "11010519491231002Y",
	"FWS1122", "a.b_c-d", "a/b", "!~", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "é",
	strings.Repeat("x", 32), strings.Repeat("x", 33), strings.Repeat("x", 64), strings.Repeat("x", 65),
	strings.Repeat("张", 32), strings.Repeat("张", 33), strings.Repeat("张", 64), strings.Repeat("张", 65),
}

// goodStrings and goodInts are valid under most rules: fill draws half
// its values from them, so that valid messages are frequent too.
var (
	goodStrings = []string{"", "13245678901", "11010519491231002X", "FWS1122", "test12345", "张师傅"}
	goodInts    = []int64{0, 1234567}
)

var edgeInts = []int64{0, 1, -1, 2, 3, 1898, 1234567, math.MaxInt64, math.MinInt64, math.MaxInt32, math.MinInt32}

// fill sets m's singular fields from the edge values, at random: each
// field unset about a third of the time. When good is set, strings and
// 64-bit integers come from the good values only and fields are unset
// one time in eight, so that messages valid under several rules at once
// are frequent.
func fill(r *rand.Rand, m protoreflect.Message, depth int, good bool) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		unset := r.IntN(3) == 0
		if good {
			unset = r.IntN(8) == 0
		}
		if fd.IsList() || fd.IsMap() || unset {
			continue
		}
		if fd.ContainingOneof() != nil && m.WhichOneof(fd.ContainingOneof()) != nil {
			continue
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			pool := edgeStrings
			if good || r.IntN(2) == 0 {
				pool = goodStrings
			}
			m.Set(fd, protoreflect.ValueOfString(pool[r.IntN(len(pool))]))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			pool := edgeInts
			if good || r.IntN(2) == 0 {
				pool = goodInts
			}
			m.Set(fd, protoreflect.ValueOfInt64(pool[r.IntN(len(pool))]))
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(int32(edgeInts[r.IntN(len(edgeInts))])))
		case protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(protoreflect.EnumNumber(r.IntN(5))))
		case protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case protoreflect.MessageKind:
			if fd.Message().FullName() == "google.protobuf.Struct" {
				s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
				for k := range []int{0, 1, 64, 65}[r.IntN(4)] {
					s.Fields[fmt.Sprint("k", k)] = structpb.NewNumberValue(float64(k))
				}
				m.Set(fd, protoreflect.ValueOfMessage(s.ProtoReflect()))
			} else if depth < 3 && !strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf.") {
				fill(r, m.Mutable(fd).Message(), depth+1, good)
			}
		}
	}
}

// nativeTypes are the servicecenter.v1 message types with a native form.
func nativeTypes(t testing.TB) map[protoreflect.FullName]*native {
	t.Helper()
	out := map[protoreflect.FullName]*native{}
	protoregistry.GlobalFiles.RangeFilesByPackage("servicecenter.v1", func(fd protoreflect.FileDescriptor) bool {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			if n, ok := nativeOf(msgs.Get(i), 0); ok {
				out[msgs.Get(i).FullName()] = n
			}
		}
		return true
	})
	return out
}

// TestNativeForms: the hot requests have a native form; requests with
// rules it does not understand have none.
func TestNativeForms(t *testing.T) {
	types := nativeTypes(t)
	for _, tt := range []struct {
		msg  proto.Message
		want bool
	}{
		{&scv1.GetWorkerTagsRequest{}, true},
		{&scv1.AssignWorkerRequest{}, true},
		{&scv1.BindVirtualPhoneRequest{}, true},
		{&scv1.WorkcardRequestSource{}, true},
		{&scv1.UpdateWorkerRequest{}, false},      // list items, timestamp CEL
		{&scv1.SyncUserBlacklistRequest{}, false}, // a list CEL rule
		{&scv1.ListAuditEventsRequest{}, false},   // a timestamp CEL rule
	} {
		name := tt.msg.ProtoReflect().Descriptor().FullName()
		if _, got := types[name]; got != tt.want {
			t.Errorf("%s: native form %v, want %v", name, got, tt.want)
		}
	}
	if n := types["servicecenter.v1.AssignWorkerRequest"]; n != nil && len(n.rules) != 2 {
		t.Errorf("AssignWorkerRequest: %d message rules read, want 2", len(n.rules))
	}
}

// agree holds the native form of m's type to protovalidate on m: native
// says valid exactly when protovalidate finds no violation (when every
// string is UTF-8; otherwise native may only say invalid), and Validator
// returns protovalidate's violations.
func agree(t *testing.T, plain protovalidate.Validator, v *Validator, n *native, m proto.Message) bool {
	t.Helper()
	want := plain.Validate(m)
	got := n.valid(m.ProtoReflect(), testNow)
	if got && want != nil || !got && want == nil && allUTF8(m.ProtoReflect()) {
		t.Errorf("%v: native says valid=%v, protovalidate: %v", m, got, want)
		return false
	}
	var verr *protovalidate.ValidationError
	if errors.As(want, &verr) {
		nameMessageRuleFields(m.ProtoReflect().Descriptor(), verr) // Validator's own addition
	}
	if full := v.Validate(m); fmt.Sprint(full) != fmt.Sprint(want) {
		t.Errorf("%v:\n got %v\nwant %v", m, full, want)
		return false
	}
	return true
}

func allUTF8(m protoreflect.Message) bool {
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap():
			ok = utf8.ValidString(v.String())
		case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap():
			ok = allUTF8(v.Message())
		}
		return ok
	})
	return ok
}

// TestNativeAgreesWithProtovalidate fills every message type with a
// native form with edge values, at random, and holds the native form and
// Validator to protovalidate.
func TestNativeAgreesWithProtovalidate(t *testing.T) {
	plain, v := plainValidator(t), newValidator(t)
	types := nativeTypes(t)
	if len(types) < 4 {
		t.Fatalf("only %d native types", len(types))
	}
	for _, name := range slices.Sorted(maps.Keys(types)) {
		n := types[name]
		mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
		if err != nil {
			t.Fatal(err)
		}
		// Each type draws from its own stream, seeded by its name: the
		// messages a type gets do not depend on the map's order or on
		// which other types have a native form.
		h := fnv.New64a()
		h.Write([]byte(name))
		r := rand.New(rand.NewPCG(h.Sum64(), 12))
		valid, invalid := 0, 0
		for range 500 {
			m := mt.New()
			fill(r, m, 0, r.IntN(2) == 0)
			if !agree(t, plain, v, n, m.Interface()) {
				return
			}
			if n.valid(m, testNow) {
				valid++
			} else {
				invalid++
			}
		}
		t.Logf("%s: %d valid, %d invalid", name, valid, invalid)
		if n.fields != nil && (valid == 0 || invalid == 0) {
			t.Errorf("%s: %d valid, %d invalid: the edges are not exercised", name, valid, invalid)
		}
	}
}

// TestNativeAssignWorker: AssignWorkerRequest's rules, one edge at a time.
func TestNativeAssignWorker(t *testing.T) {
	plain, v := plainValidator(t), newValidator(t)
	n := nativeTypes(t)["servicecenter.v1.AssignWorkerRequest"]
	base := func() *scv1.AssignWorkerRequest {
		return &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567}
	}
	tests := []struct {
		name  string
		edit  func(r *scv1.AssignWorkerRequest)
		valid bool
	}{
		{"minimal", func(*scv1.AssignWorkerRequest) {}, true},
		{"workcard 0", func(r *scv1.AssignWorkerRequest) { r.WorkcardId = 0 }, false},
		{"no worker", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerId = 0 }, false},
		{"by mobile", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerId, r.TargetWorkerMobile = 0, "13245678901" }, true},
		{"bad mobile", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerMobile = "12345678901" }, false},
		{"negative worker", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerId = -1 }, false},
		{"store without id", func(r *scv1.AssignWorkerRequest) { r.Type = scv1.OperatorType_OPERATOR_TYPE_STORE }, false},
		{"store with id", func(r *scv1.AssignWorkerRequest) { r.Type, r.ServiceStoreId = scv1.OperatorType_OPERATOR_TYPE_STORE, 7 }, true},
		{"undefined type", func(r *scv1.AssignWorkerRequest) { r.Type = 1 }, false},
		{"outer id", func(r *scv1.AssignWorkerRequest) { r.OuterId = "test12345" }, true},
		{"outer id with space", func(r *scv1.AssignWorkerRequest) { r.OuterId = "test 12345" }, false},
		{"outer id 65", func(r *scv1.AssignWorkerRequest) { r.OuterId = strings.Repeat("x", 65) }, false},
		{"name 32", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerName = strings.Repeat("张", 32) }, true},
		{"name 33", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerName = strings.Repeat("张", 33) }, false},
		{"name with zero-width space", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerName = "张\u200b师傅" }, false},
		{"name with tab", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerName = "张\t师傅" }, false},
		{"name not UTF-8", func(r *scv1.AssignWorkerRequest) { r.TargetWorkerName = "\xff" }, false},
		{"negative reason", func(r *scv1.AssignWorkerRequest) { r.StopOrderTypeCheckReason = -5 }, false},
		{"negative fulfil task", func(r *scv1.AssignWorkerRequest) { r.FulfilTaskId = -5 }, false},
		{"ext_json 64 keys", func(r *scv1.AssignWorkerRequest) { r.ExtJson = keys(64) }, true},
		{"ext_json 65 keys", func(r *scv1.AssignWorkerRequest) { r.ExtJson = keys(65) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(r)
			if got := n.valid(r.ProtoReflect(), testNow); got != tt.valid {
				t.Errorf("native valid = %v, want %v", got, tt.valid)
			}
			agree(t, plain, v, n, r)
		})
	}
}

func keys(n int) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for i := range n {
		s.Fields[fmt.Sprint("k", i)] = structpb.NewBoolValue(true)
	}
	return s
}

// TestNativeDynamic: a dynamic message of a native type (as a proxy
// might pass) is checked the same way, or left to protovalidate.
func TestNativeDynamic(t *testing.T) {
	plain, v := plainValidator(t), newValidator(t)
	n := nativeTypes(t)["servicecenter.v1.AssignWorkerRequest"]
	want := &scv1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerId: 2, ExtJson: keys(3)}
	b, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(want.ProtoReflect().Descriptor())
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	agree(t, plain, v, n, m)
}

// FuzzNativeStrings holds the native string rules (printable, code,
// visibleascii, max_len) to their CEL forms on arbitrary strings.
func FuzzNativeStrings(f *testing.F) {
	for _, s := range edgeStrings {
		f.Add(s)
	}
	plain, v := plainValidator(f), newValidator(f)
	types := nativeTypes(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range []proto.Message{
			&scv1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerId: 2, OuterId: s},
			&scv1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerId: 2, TargetWorkerName: s},
			&scv1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerMobile: s},
			&scv1.BindVirtualPhoneRequest{WorkcardId: 1, RequestSource: &scv1.WorkcardRequestSource{RealTpNick: s, ServiceStoreCode: s}},
			&scv1.GetWorkerTagsRequest{IdNumber: s, Mobile: "13245678901"},
		} {
			agree(t, plain, v, types[m.ProtoReflect().Descriptor().FullName()], m)
		}
	})
}

// FuzzNativeAssignWorker holds AssignWorkerRequest's native form to
// protovalidate on arbitrary field values.
func FuzzNativeAssignWorker(f *testing.F) {
	f.Add(int64(2345678), "test12345", int64(1234567), "", int32(2), int64(0), "张师傅", int64(0), int64(1898), uint8(1))
	f.Add(int64(0), "", int64(0), "13245678901", int32(3), int64(0), "", int64(-1), int64(0), uint8(65))
	plain, v := plainValidator(f), newValidator(f)
	n := nativeTypes(f)["servicecenter.v1.AssignWorkerRequest"]
	f.Fuzz(func(t *testing.T, workcard int64, outer string, worker int64, mobile string, typ int32, store int64, name string, reason, task int64, nkeys uint8) {
		r := &scv1.AssignWorkerRequest{WorkcardId: workcard, OuterId: outer, TargetWorkerId: worker, TargetWorkerMobile: mobile,
			Type: scv1.OperatorType(typ), ServiceStoreId: store, TargetWorkerName: name, StopOrderTypeCheckReason: reason, FulfilTaskId: task}
		if nkeys > 0 {
			r.ExtJson = keys(int(nkeys) - 1)
		}
		agree(t, plain, v, n, r)
	})
}
