package codec

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/demoanswer"
)

// apiMessages are the types of the servicecenter.v1 package, answers,
// requests and what they hold.
func apiMessages(t *testing.T) []protoreflect.MessageType {
	t.Helper()
	var types []protoreflect.MessageType
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if mt.Descriptor().ParentFile().Package() == "servicecenter.v1" {
			types = append(types, mt)
		}
		return true
	})
	if len(types) < 50 {
		t.Fatalf("only %d servicecenter.v1 message types registered", len(types))
	}
	return types
}

// TestAnswersEncodeFast: every answer of the API's methods has the
// generated code, and every type but those holding a float or double
// without presence is encoded by it.
func TestAnswersEncodeFast(t *testing.T) {
	c := New()
	answers := 0
	for _, mt := range apiMessages(t) {
		m := mt.New().Interface()
		_, generated := m.(fastMessage)
		if !generated {
			t.Errorf("%s has no generated size and marshal code (buf.gen.yaml)", mt.Descriptor().FullName())
			continue
		}
		name := string(mt.Descriptor().FullName())
		// The one type with a double without presence, and those that
		// hold it (the events' payloads).
		wantFast := !strings.HasSuffix(name, "TmallFuwuSettleSupplierFcBill") && !strings.HasSuffix(name, ".Event") &&
			!strings.HasSuffix(name, "ListEventsResponse") && !strings.HasSuffix(name, "WatchEventsResponse")
		if got := c.encodesFast(m.(fastMessage)); got != wantFast {
			t.Errorf("%s: encoded by its generated code %v, want %v", name, got, wantFast)
		}
		if strings.HasSuffix(name, "Response") {
			answers++
		}
	}
	if answers < 15 {
		t.Fatalf("only %d answer types", answers)
	}
}

// TestMarshalAgrees: what Marshal writes decodes with protobuf-go into
// the message it was given, for random messages of every type (and so of
// every answer), small and over the pooling threshold, and for edge
// cases; it is as long as protobuf-go's encoding.
func TestMarshalAgrees(t *testing.T) {
	c := New()
	rng := rand.New(rand.NewPCG(16, 1))
	pooled := 0
	for _, mt := range apiMessages(t) {
		for i := range 200 {
			m := mt.New()
			fill(rng, m, 0)
			if i%10 == 0 {
				// Unknown fields go out as they came.
				m.SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 9999, protowire.BytesType), "unknown"))
			}
			if agree(t, c, m.Interface()) {
				pooled++
			}
		}
	}
	for _, m := range edgeMessages() {
		agree(t, c, m)
	}
	if pooled == 0 {
		t.Fatal("no message went to a pooled buffer")
	}
}

// agree checks one message; it reports whether the encoding was pooled.
func agree(t *testing.T, c *Codec, m proto.Message) bool {
	t.Helper()
	data, err := c.Marshal(m)
	if err != nil {
		t.Fatalf("%s: %v", m.ProtoReflect().Descriptor().FullName(), err)
	}
	defer data.Free()
	b := data.Materialize()
	if want := proto.Size(m); len(b) != want {
		t.Fatalf("%s: %d bytes, protobuf-go writes %d: %v", m.ProtoReflect().Descriptor().FullName(), len(b), want, m)
	}
	got := m.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(b, got); err != nil {
		t.Fatalf("%s: protobuf-go does not decode it: %v", m.ProtoReflect().Descriptor().FullName(), err)
	}
	if !proto.Equal(got, m) {
		t.Fatalf("%s: decoded\n%v\nwant\n%v", m.ProtoReflect().Descriptor().FullName(), got, m)
	}
	return !mem.IsBelowBufferPoolingThreshold(len(b))
}

// edgeMessages are messages random filling does not make: extreme and
// negative values, -0 (written by protobuf-go, so encoded by it),
// empty and nil parts.
func edgeMessages() []proto.Message {
	negZero := math.Copysign(0, -1)
	return []proto.Message{
		&scv1.GetWorkerTagsResponse{},
		&scv1.GetWorkerTagsResponse{ResultData: &scv1.WorkerTag{}},
		&scv1.WorkerTag{AbilityMap: map[string]*scv1.Ability{"": {}, "nil": nil}},
		&scv1.Ability{Extra: &structpb.Struct{}},
		&scv1.Ability{Extra: &structpb.Struct{Fields: map[string]*structpb.Value{
			"negzero": structpb.NewNumberValue(negZero), "nan": structpb.NewNumberValue(math.NaN()),
			"inf": structpb.NewNumberValue(math.Inf(-1)), "null": structpb.NewNullValue(), "empty": {},
			"list": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{{}, structpb.NewBoolValue(false)}}),
		}}},
		&scv1.TmallFuwuSettleSupplierFcBill{PlatformCommissionRate: negZero},
		&scv1.TmallFuwuSettleSupplierFcBill{PlatformCommissionRate: math.SmallestNonzeroFloat64},
		&scv1.Event{Payload: &scv1.Event_Raw{}},
		&scv1.Event{Payload: &scv1.Event_Raw{Raw: &structpb.Struct{}}},
		&scv1.AssignWorkerResponse{},
	}
}

// fill sets random fields of m, with values at the edges of their
// ranges; messages nest at most four deep.
func fill(rng *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if rng.IntN(3) == 0 {
			continue
		}
		if fd.Message() != nil && depth >= 4 {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range rng.IntN(4) {
				if fd.Message() != nil {
					e := l.NewElement()
					fill(rng, e.Message(), depth+1)
					l.Append(e)
				} else {
					l.Append(scalar(rng, fd))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range rng.IntN(4) {
				k := scalar(rng, fd.MapKey()).MapKey()
				if fd.MapValue().Message() != nil {
					v := mp.NewValue()
					fill(rng, v.Message(), depth+1)
					mp.Set(k, v)
				} else {
					mp.Set(k, scalar(rng, fd.MapValue()))
				}
			}
		case fd.Message() != nil:
			v := m.NewField(fd)
			fill(rng, v.Message(), depth+1)
			m.Set(fd, v)
		default:
			m.Set(fd, scalar(rng, fd))
		}
	}
}

// scalar is a random value of fd's (non-message) kind.
func scalar(rng *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	ints := []int64{0, 1, -1, 127, 128, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, rng.Int64()}
	n := ints[rng.IntN(len(ints))]
	floats := []float64{0, 1.5, -2.25, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), rng.Float64()}
	f := floats[rng.IntN(len(floats))]
	strs := []string{"", "a", "张三", "13712345678", strings.Repeat("x", 300), strings.Repeat("长", rng.IntN(700))}
	s := strs[rng.IntN(len(strs))]
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(n%2 != 0)
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		if rng.IntN(5) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(int32(n))) // open enum: any number
		}
		return protoreflect.ValueOfEnum(values.Get(rng.IntN(values.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(n)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(f))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(f)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(s))
	}
	panic("no random value of kind " + fd.Kind().String())
}

// reflectOnly hides a message's generated code, so that Marshal encodes
// it with protobuf-go.
type reflectOnly struct{ proto.Message }

// BenchmarkMarshal encodes the emulator's demo answers of GetWorkerTags
// and AssignWorker with the generated code and with protobuf-go, side by
// side.
func BenchmarkMarshal(b *testing.B) {
	answers := []struct {
		name string
		m    proto.Message
	}{
		{"GetWorkerTags", demoanswer.GetWorkerTags()},
		{"AssignWorker", demoanswer.AssignWorker()},
	}
	c := New()
	for _, a := range answers {
		for _, v := range []struct {
			name string
			m    any
		}{{"vtprotobuf", a.m}, {"protobuf-go", reflectOnly{a.m}}} {
			b.Run(a.name+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					data, err := c.Marshal(v.m)
					if err != nil {
						b.Fatal(err)
					}
					data.Free()
				}
			})
		}
	}
}
