package answerjson

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// covered lists one message of each type Append encodes.
func covered() []proto.Message {
	return []proto.Message{
		&scv1.GetWorkerTagsResponse{}, &scv1.AssignWorkerResponse{}, &scv1.BindVirtualPhoneResponse{},
		&scv1.UpdateWorkerResponse{}, &scv1.SyncUserBlacklistResponse{},
	}
}

// check holds Append to protojson for m: when Append encodes m, its
// output is protojson's (compacted) and protojson accepts m; it reports
// whether Append encoded m.
func check(t *testing.T, m proto.Message) bool {
	t.Helper()
	got, ok := Append(nil, m)
	want, err := Options().Marshal(m)
	if !ok {
		if !Covers(m) && got != nil {
			t.Fatalf("Append(%T) refused but returned %q", m, got)
		}
		return false
	}
	if err != nil {
		t.Fatalf("Append encoded a %T protojson refuses (%v):\n%s\nmessage: %v", m, err, got, m)
	}
	var compact bytes.Buffer // protojson may put a space after a comma
	if err := json.Compact(&compact, want); err != nil {
		t.Fatalf("protojson wrote %s: %v", want, err)
	}
	if want = compact.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("Append(%T) differs from protojson:\n got %s\nwant %s\nmessage: %v", m, got, want, m)
	}
	return true
}

// filler sets every field of a message to a value drawn from r, so that
// a field added to a covered message shows in the differential test.
type filler struct {
	r *rand.Rand
}

// sampleStrings are the strings drawn from: escapes, HTML characters,
// U+2028, multi-byte UTF-8, and invalid UTF-8 (which protojson refuses).
var sampleStrings = []string{
	"", "efwa00000001", "ac_install", `quote " and \ backslash`, "tab\tnew\nline\rcr\bback\fform",
	"\x00\x01\x1f\x7f", "<script>&amp;</script>", "line\u2028sep\u2029", "服务中心 ✓ 🚚", "bad \xff utf8",
	"\xe6\x9c", "a", "A_Z", "13245678901",
}

func (f filler) string() string {
	if f.r.IntN(4) == 0 {
		b := make([]byte, f.r.IntN(12))
		for i := range b {
			b[i] = byte(f.r.IntN(256))
		}
		return string(b)
	}
	return sampleStrings[f.r.IntN(len(sampleStrings))]
}

func (f filler) timestamp() *timestamppb.Timestamp {
	secs := []int64{0, 1, -1, 1734687721, minTimestampSeconds, maxTimestampSeconds, minTimestampSeconds - 1,
		maxTimestampSeconds + 1, f.r.Int64N(maxTimestampSeconds)}[f.r.IntN(9)]
	nanos := []int32{0, 1, 999999999, 1000000000, -1, 5000000, 120000, 7000, f.r.Int32N(1e9)}[f.r.IntN(9)]
	return &timestamppb.Timestamp{Seconds: secs, Nanos: nanos}
}

// fill sets m's fields; depth bounds nesting.
func (f filler) fill(m protoreflect.Message, depth int) {
	switch m.Interface().(type) {
	case *timestamppb.Timestamp:
		proto.Merge(m.Interface(), f.timestamp())
		return
	case *structpb.Struct:
		s, _ := structpb.NewStruct(map[string]any{"k": f.string(), "n": 1.5})
		proto.Merge(m.Interface(), s)
		return
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if f.r.IntN(5) == 0 {
			continue // left unset
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range f.r.IntN(12) {
				k := protoreflect.ValueOfString(f.string()).MapKey()
				if fd.MapValue().Message() != nil {
					v := mp.NewValue()
					if f.r.IntN(3) > 0 {
						f.fill(v.Message(), depth+1)
					}
					mp.Set(k, v)
				} else {
					mp.Set(k, f.scalar(fd.MapValue()))
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range f.r.IntN(4) {
				if fd.Message() != nil {
					v := l.NewElement()
					f.fill(v.Message(), depth+1)
					l.Append(v)
				} else {
					l.Append(f.scalar(fd))
				}
			}
		case fd.Message() != nil:
			if depth < 4 && (fd.Message().FullName() != "google.protobuf.Struct" || f.r.IntN(8) == 0) {
				f.fill(m.Mutable(fd).Message(), depth+1)
			}
		default:
			m.Set(fd, f.scalar(fd))
		}
	}
}

func (f filler) scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(f.r.IntN(2) == 0)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if f.r.IntN(5) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(f.r.Int32N(200) - 100)) // may be unknown
		}
		return protoreflect.ValueOfEnum(vals.Get(f.r.IntN(vals.Len())).Number())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{0, 1, -1, math.MaxInt64, math.MinInt64, f.r.Int64()}[f.r.IntN(6)])
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(f.string())
	}
	panic("answerjson test: no value for " + fd.Kind().String() + " (add it to filler.scalar)")
}

// seeded is a generator seeded by name, so that each type's draws do
// not depend on the order the types are tested in.
func seeded(name string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return rand.New(rand.NewPCG(h.Sum64(), 16))
}

// TestAppendMatchesProtojson draws messages of every covered type, with
// every field set or unset, and holds Append's output to protojson's; a
// good share of them must be encoded (not left to protojson).
func TestAppendMatchesProtojson(t *testing.T) {
	for _, m := range covered() {
		name := string(m.ProtoReflect().Descriptor().FullName())
		t.Run(name, func(t *testing.T) {
			f := filler{r: seeded(name)}
			const n = 2000
			encoded := 0
			for range n {
				msg := m.ProtoReflect().New()
				f.fill(msg, 0)
				if check(t, msg.Interface()) {
					encoded++
				}
			}
			if encoded < n/10 {
				t.Fatalf("Append encoded %d of %d messages; the rest fell back to protojson", encoded, n)
			}
		})
	}
}

// TestAppendCases pins the cases one by one: what Append writes, and
// what it leaves to protojson.
func TestAppendCases(t *testing.T) {
	ts := timestamppb.New
	extra, _ := structpb.NewStruct(map[string]any{"a": 1})
	tests := []struct {
		name    string
		m       any
		encoded bool
		want    string // when encoded
	}{
		{"empty GetWorkerTags", &scv1.GetWorkerTagsResponse{}, true,
			`{"success":false,"msg_code":"","msg_info":"","top_request_id":""}`},
		{"nil message", (*scv1.AssignWorkerResponse)(nil), true,
			`{"success":false,"msg_code":"","msg_info":"","display_msg":"","top_request_id":""}`},
		{"GetWorkerTags", &scv1.GetWorkerTagsResponse{
			ResultData: &scv1.WorkerTag{
				AbilityMap: map[string]*scv1.Ability{
					"tv_install": {Effective: true, ServiceCode: "tv_install", AbilityLevel: scv1.AbilityLevel_ABILITY_LEVEL_EXPERT},
					"ac_install": {ServiceCode: "ac_install", AbilityLevel: 2},
					"unknown":    {AbilityLevel: 17},
					"nil":        nil,
				},
				Vip: true,
				HomeWorkerTags: []*scv1.WorkerManageRule{
					{Name: "vip", BeginTime: ts(time.Date(2024, 12, 20, 9, 42, 1, 0, time.UTC)), EndTime: ts(time.Date(2030, 12, 31, 15, 59, 59, 120000000, time.UTC))},
					{Name: "x", EndTime: &timestamppb.Timestamp{Seconds: 1, Nanos: 1000}},
				},
			},
			Success: true, TopRequestId: "efwa00000001",
		}, true, `{"result_data":{"black_list":false,"degradation":false,"ability_map":{` +
			`"ac_install":{"effective":false,"service_code":"ac_install","ability_level":"ABILITY_LEVEL_INTERMEDIATE"},` +
			`"nil":{"effective":false,"service_code":"","ability_level":"ABILITY_LEVEL_UNSPECIFIED"},` +
			`"tv_install":{"effective":true,"service_code":"tv_install","ability_level":"ABILITY_LEVEL_EXPERT"},` +
			`"unknown":{"effective":false,"service_code":"","ability_level":17}},` +
			`"raw_ability_map":"","vip":true,"big_promotion":false,"home_worker_tags":[` +
			`{"name":"vip","begin_time":"2024-12-20T09:42:01Z","end_time":"2030-12-31T15:59:59.120Z"},` +
			`{"name":"x","end_time":"1970-01-01T00:00:01.000001Z"}]},` +
			`"success":true,"msg_code":"","msg_info":"","top_request_id":"efwa00000001"}`},
		{"escapes", &scv1.AssignWorkerResponse{MsgInfo: "a\"b\\c\n\x01<&>\u2028é"}, true,
			`{"success":false,"msg_code":"","msg_info":"a\"b\\c\n\u0001<&>` + "\u2028" + `é","display_msg":"","top_request_id":""}`},
		{"int64 as a string", &scv1.UpdateWorkerResponse{ErrorCode: -42, GmtCreate: &timestamppb.Timestamp{Nanos: 7}}, true,
			`{"success":false,"value":false,"error_code":"-42","error_msg":"","gmt_create":"1970-01-01T00:00:00.000000007Z","top_request_id":""}`},
		{"invalid UTF-8", &scv1.BindVirtualPhoneResponse{ResultData: "\xff"}, false, ""},
		{"timestamp out of range", &scv1.UpdateWorkerResponse{GmtModified: &timestamppb.Timestamp{Seconds: maxTimestampSeconds + 1}}, false, ""},
		{"nanos out of range", &scv1.UpdateWorkerResponse{GmtModified: &timestamppb.Timestamp{Nanos: -1}}, false, ""},
		{"a Struct", &scv1.GetWorkerTagsResponse{ResultData: &scv1.WorkerTag{AbilityMap: map[string]*scv1.Ability{"a": {Extra: extra}}}}, false, ""},
		{"not covered", &scv1.GetWorkerTagsRequest{IdNumber: "x"}, false, ""},
		{"not a message", "x", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, ok := Append(prefix, tt.m)
			if ok != tt.encoded {
				t.Fatalf("Append encoded = %v, want %v (%s)", ok, tt.encoded, got)
			}
			if !ok {
				if string(got) != "prefix" {
					t.Fatalf("Append refused but changed dst to %q", got)
				}
				return
			}
			if string(got) != "prefix"+tt.want {
				t.Fatalf("Append =\n%s\nwant\n%s", got[len(prefix):], tt.want)
			}
			if pm, isMsg := tt.m.(proto.Message); isMsg {
				check(t, pm)
			}
		})
	}
}

// FuzzAppend decodes the input as each covered message (protobuf wire
// format) and holds Append to protojson on it.
func FuzzAppend(f *testing.F) {
	r := filler{r: seeded("FuzzAppend")}
	for _, m := range covered() {
		for range 8 {
			msg := m.ProtoReflect().New()
			r.fill(msg, 0)
			b, err := proto.Marshal(msg.Interface())
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range covered() {
			msg := m.ProtoReflect().New().Interface()
			if err := (proto.UnmarshalOptions{}).Unmarshal(data, msg); err != nil {
				continue
			}
			check(t, msg)
		}
	})
}
