package audit

import (
	"context"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TestEveryMutatingRPCIsAudited walks every RPC of the linked protos:
// the audit options all compile (NewPlan), and every RPC that calls a TOP
// method changing state (top.Write or top.Keyed) carries an audit option,
// so a new mutating RPC without one fails here. An RPC naming a TOP method
// that top does not know fails too.
func TestEveryMutatingRPCIsAudited(t *testing.T) {
	plan := testPlan(t)
	rpcs := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("servicecenter.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			methods := fd.Services().Get(i).Methods()
			for j := range methods.Len() {
				m := methods.Get(j)
				rpcs++
				name := topMethodOf(m)
				if name == "" {
					continue
				}
				tm, ok := top.Lookup(name)
				switch {
				case !ok:
					t.Errorf("%s: topmethod %q is not in top.Methods()", m.FullName(), name)
				case tm.Idempotency != top.Read && !plan.Audited(FullMethod(m)):
					t.Errorf("%s calls %s, a %v, but has no audit option", m.FullName(), name, tm.Idempotency)
				}
			}
		}
		return true
	})
	if rpcs == 0 || len(plan.Methods()) == 0 {
		t.Fatalf("%d RPCs, %d audited: the protos are not linked", rpcs, len(plan.Methods()))
	}
	for _, m := range plan.Methods() {
		if len(plan.methods[m].targets) == 0 {
			t.Errorf("%s: audited without targets", m)
		}
	}
}

func topMethodOf(m protoreflect.MethodDescriptor) string {
	opts, _ := m.Options().(*descriptorpb.MethodOptions)
	if opts == nil {
		return ""
	}
	name, _ := proto.GetExtension(opts, scv1.E_Topmethod).(string)
	return name
}

// compile compiles one test .proto (which may import
// servicecenter/v1/options.proto, taken from the linked descriptors) into
// a registry of its own.
func compile(t *testing.T, src string) *protoregistry.Files {
	t.Helper()
	linked := protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			return protocompile.SearchResult{}, err
		}
		return protocompile.SearchResult{Desc: fd}, nil
	})
	c := protocompile.Compiler{Resolver: protocompile.CompositeResolver{
		&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{"t/v1/t.proto": src})}, linked,
	}}
	files, err := c.Compile(context.Background(), "t/v1/t.proto")
	if err != nil {
		t.Fatal(err)
	}
	reg := &protoregistry.Files{}
	if err := reg.RegisterFile(files[0]); err != nil {
		t.Fatal(err)
	}
	return reg
}

const testMessages = `
syntax = "proto3";
package t.v1;
import "servicecenter/v1/options.proto";

enum Color {
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
}
message Item {
  string phone = 1;
  Color color = 2;
}
message Inner {
  string code = 1;
  uint64 n = 2;
}
message Req {
  string id = 1;
  Inner inner = 2;
  repeated Item items = 3;
  repeated Color colors = 4;
  map<string, string> attrs = 5;
  bool flag = 6;
  repeated Inner inners = 7;
  int32 small = 8;
}
message Res {
  string id = 1;
}
`

// TestPlanRefusesBadOptions: an audit option that does not resolve or
// does not fit its field fails NewPlan, naming the RPC and the target.
func TestPlanRefusesBadOptions(t *testing.T) {
	tests := []struct{ name, targets, want string }{
		{"unknown field", `{kind: "k", field: "nope", mask: AUDIT_MASK_NONE}`, `t.v1.Req has no field "nope"`},
		{"unknown response field", `{kind: "k", field: "response.nope", mask: AUDIT_MASK_NONE}`, `t.v1.Res has no field "nope"`},
		{"through a scalar", `{kind: "k", field: "id.x", mask: AUDIT_MASK_NONE}`, "id is not a message field"},
		{"no kind", `{field: "id", mask: AUDIT_MASK_NONE}`, "no kind"},
		{"no field", `{kind: "k"}`, "no field"},
		{"string without mask", `{kind: "k", field: "id"}`, "a string field needs a mask"},
		{"number with a mask", `{kind: "k", field: "inner.n", mask: AUDIT_MASK_PHONE}`, "n is a number: it takes no mask"},
		{"ends at a message", `{kind: "k", field: "inner"}`, "inner is a message, not an id"},
		{"ends at a bool", `{kind: "k", field: "flag"}`, "flag is a bool, not an id"},
		{"a map", `{kind: "k", field: "attrs"}`, "t.v1.Req.attrs is a map"},
		{"repeated without sample", `{kind: "k", field: "items.phone", mask: AUDIT_MASK_PHONE}`, "needs a sample"},
		{"sample without repeated", `{kind: "k", field: "id", mask: AUDIT_MASK_NONE, sample: 3}`, "sample without a repeated field"},
		{"count of a scalar", `{kind: "k", field: "id", count: true}`, "count needs a path ending at a repeated field"},
		{"count with a mask", `{kind: "k", field: "items", count: true, mask: AUDIT_MASK_TEXT}`, "a count has no mask and no sample"},
		{"no targets", ``, "no targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := ""
			if tt.targets != "" {
				targets = "targets: " + tt.targets
			}
			src := testMessages + `
service S {
  rpc M(Req) returns (Res) {
    option (servicecenter.v1.audit) = {` + targets + `};
  }
}`
			_, err := NewPlan(compile(t, src))
			if err == nil || !strings.Contains(err.Error(), "t.v1.S.M") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewPlan = %v, want an error of t.v1.S.M with %q", err, tt.want)
			}
		})
	}
}

// TestPlanTargets lists the targets of a test RPC that uses every kind of
// path: a fallback, a count of an empty list, samples of messages and of
// enums (admitted or not), unset nested messages, an enum number outside
// the enum, unsigned and 32-bit integers.
func TestPlanTargets(t *testing.T) {
	files := compile(t, testMessages+`
service S {
  rpc M(Req) returns (Res) {
    option (servicecenter.v1.audit) = {
      targets: {kind: "id", field: "id", mask: AUDIT_MASK_TEXT}
      targets: {kind: "id", field: "response.id", mask: AUDIT_MASK_NONE, fallback: true}
      targets: {kind: "code", field: "inner.code", mask: AUDIT_MASK_NONE}
      targets: {kind: "n", field: "inner.n"}
      targets: {kind: "small", field: "small"}
      targets: {kind: "items", field: "items", count: true}
      targets: {kind: "inners", field: "inners", count: true}
      targets: {kind: "phone", field: "items.phone", mask: AUDIT_MASK_PHONE, sample: 2}
      targets: {kind: "color", field: "items.color", sample: 3}
      targets: {kind: "colors", field: "colors", sample: 1}
      targets: {kind: "inner_code", field: "inners.code", mask: AUDIT_MASK_ID, sample: 1}
    };
  }
  rpc Other(Req) returns (Res);
}`)
	plan, err := NewPlan(files)
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Methods(); len(got) != 1 || got[0] != "/t.v1.S/M" || plan.Audited("/t.v1.S/Other") {
		t.Fatalf("audited %v", got)
	}
	d, err := files.FindDescriptorByName("t.v1.Req")
	if err != nil {
		t.Fatal(err)
	}
	reqDesc := d.(protoreflect.MessageDescriptor)
	resDesc := reqDesc.ParentFile().Messages().ByName("Res")
	item := reqDesc.ParentFile().Messages().ByName("Item")
	fields := func(md protoreflect.MessageDescriptor) func(string) protoreflect.FieldDescriptor {
		return func(n string) protoreflect.FieldDescriptor { return md.Fields().ByName(protoreflect.Name(n)) }
	}
	rf, itf := fields(reqDesc), fields(item)

	full := dynamicpb.NewMessage(reqDesc)
	inner := dynamicpb.NewMessage(reqDesc.ParentFile().Messages().ByName("Inner"))
	inner.Set(inner.Descriptor().Fields().ByName("code"), protoreflect.ValueOfString("c-1"))
	inner.Set(inner.Descriptor().Fields().ByName("n"), protoreflect.ValueOfUint64(18446744073709551615))
	full.Set(rf("inner"), protoreflect.ValueOfMessage(inner))
	full.Set(rf("small"), protoreflect.ValueOfInt32(-3))
	items := full.Mutable(rf("items")).List()
	for i, phone := range []string{"13812345678", "", "13900000001"} {
		it := dynamicpb.NewMessage(item)
		it.Set(itf("phone"), protoreflect.ValueOfString(phone))
		it.Set(itf("color"), protoreflect.ValueOfEnum(protoreflect.EnumNumber([]int{1, 0, 7}[i])))
		items.Append(protoreflect.ValueOfMessage(it))
	}
	colors := full.Mutable(rf("colors")).List()
	colors.Append(protoreflect.ValueOfEnum(1))
	colors.Append(protoreflect.ValueOfEnum(1))
	res := dynamicpb.NewMessage(resDesc)
	res.Set(resDesc.Fields().ByName("id"), protoreflect.ValueOfString("gen-1"))

	tests := []struct {
		name      string
		req, resp any
		admitted  bool
		want      string
	}{
		{"everything", full, res, true, "id:gen-1 code:c-1 n:18446744073709551615 small:-3 items:3 inners:0 phone:138****5678 color:COLOR_RED color:7 colors:COLOR_RED"},
		{"not admitted: counts, no samples", full, res, false, "id:gen-1 code:c-1 n:18446744073709551615 small:-3 items:3 inners:0"},
		{"the request's id first, no fallback", with(full, rf("id"), "r 13812345678"), res, true, "id:r 138****5678 code:c-1 n:18446744073709551615 small:-3 items:3 inners:0 phone:138****5678 color:COLOR_RED color:7 colors:COLOR_RED"},
		{"empty request, failed call", dynamicpb.NewMessage(reqDesc), nil, true, "items:0 inners:0"},
		{"a message of another type", res, res, true, ""},
		{"no message", nil, nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := targetsText(plan.Targets("/t.v1.S/M", tt.req, tt.resp, tt.admitted))
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	if got := plan.Targets("/t.v1.S/Other", full, res, true); got != nil {
		t.Fatalf("an RPC without audit option lists %v", got)
	}
}

// with returns a copy of m with field fd set to s.
func with(m *dynamicpb.Message, fd protoreflect.FieldDescriptor, s string) *dynamicpb.Message {
	c := proto.Clone(m).(*dynamicpb.Message)
	c.Set(fd, protoreflect.ValueOfString(s))
	return c
}
