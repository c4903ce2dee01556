package validation

import (
	"fmt"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// MaxJSONDepth is how deeply a google.protobuf.Struct field of a request
// (AssignWorkerRequest.ext_json) may nest: objects and lists, the field's
// own object included, so {"a":[1]} is 2 deep. Deeper is INVALID_ARGUMENT
// with rule struct.max_depth on the field. protovalidate's CEL cannot
// recurse, so Validator checks it natively; the request's decode depth
// (internal/rpc/codec.MaxDepth) leaves room for it.
const MaxJSONDepth = 32

// maxPlanDepth bounds how deeply bounds looks into singular message fields.
const maxPlanDepth = 8

// bounds are the checks Validator adds to protovalidate for one message
// type, on its own fields and those of its singular message fields.
type bounds struct {
	// lists are repeated fields with repeated.max_items: a list over its
	// limit is refused before any rule of its items runs, so that a
	// request of 270,000 entries costs one comparison, not 270,000 rule
	// evaluations (and as many violations).
	lists []listLimit
	// structs are Struct, Value and ListValue fields (MaxJSONDepth).
	structs []protoreflect.FieldDescriptor
	// nested are singular message fields whose type has bounds.
	nested []nestedBounds
}

type listLimit struct {
	fd  protoreflect.FieldDescriptor
	max uint64
}

type nestedBounds struct {
	fd protoreflect.FieldDescriptor
	b  *bounds
}

func (b *bounds) empty() bool { return len(b.lists) == 0 && len(b.structs) == 0 && len(b.nested) == 0 }

// boundsOf computes the bounds of md, looking depth levels down.
func boundsOf(md protoreflect.MessageDescriptor, depth int) *bounds {
	b := &bounds{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			rules, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
			if r := rules.GetRepeated(); r != nil && r.HasMaxItems() {
				b.lists = append(b.lists, listLimit{fd: fd, max: r.GetMaxItems()})
			}
		case fd.IsMap() || fd.Message() == nil:
		case isJSON(fd.Message()):
			b.structs = append(b.structs, fd)
		case depth < maxPlanDepth && !strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf."):
			if nb := boundsOf(fd.Message(), depth+1); !nb.empty() {
				b.nested = append(b.nested, nestedBounds{fd: fd, b: nb})
			}
		}
	}
	return b
}

func isJSON(md protoreflect.MessageDescriptor) bool {
	switch md.FullName() {
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue":
		return true
	}
	return false
}

// overLimit returns a violation for every list of m (and of its nested
// messages) longer than its max_items, worded as protovalidate words it.
func (b *bounds) overLimit(m protoreflect.Message, path []*validate.FieldPathElement) []*protovalidate.Violation {
	var out []*protovalidate.Violation
	for _, l := range b.lists {
		if n := uint64(m.Get(l.fd).List().Len()); n > l.max {
			out = append(out, &protovalidate.Violation{
				Proto: validate.Violation_builder{
					Field:   validate.FieldPath_builder{Elements: appendPath(path, l.fd)}.Build(),
					Rule:    maxItemsRule,
					RuleId:  proto.String("repeated.max_items"),
					Message: proto.String(fmt.Sprintf("must contain no more than %d item(s)", l.max)),
				}.Build(),
				FieldValue:      m.Get(l.fd),
				FieldDescriptor: l.fd,
			})
		}
	}
	for _, n := range b.nested {
		if m.Has(n.fd) {
			out = append(out, n.b.overLimit(m.Get(n.fd).Message(), appendPath(path, n.fd))...)
		}
	}
	return out
}

// maxItemsRule is the rule path of repeated.max_items, as protovalidate
// reports it.
var maxItemsRule = validate.FieldPath_builder{Elements: []*validate.FieldPathElement{
	validate.FieldPathElement_builder{FieldNumber: proto.Int32(18), FieldName: proto.String("repeated"), FieldType: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()}.Build(),
	validate.FieldPathElement_builder{FieldNumber: proto.Int32(2), FieldName: proto.String("max_items"), FieldType: descriptorpb.FieldDescriptorProto_TYPE_UINT64.Enum()}.Build(),
}}.Build()

// tooDeep returns a violation for every JSON field of m (and of its
// nested messages) nesting deeper than MaxJSONDepth.
func (b *bounds) tooDeep(m protoreflect.Message, path []*validate.FieldPathElement) []*protovalidate.Violation {
	var out []*protovalidate.Violation
	for _, fd := range b.structs {
		if !m.Has(fd) || jsonDepth(m.Get(fd).Message().Interface(), MaxJSONDepth) <= MaxJSONDepth {
			continue
		}
		out = append(out, &protovalidate.Violation{
			Proto: validate.Violation_builder{
				Field:   validate.FieldPath_builder{Elements: appendPath(path, fd)}.Build(),
				RuleId:  proto.String("struct.max_depth"),
				Message: proto.String(fmt.Sprintf("must nest at most %d levels of objects and lists", MaxJSONDepth)),
			}.Build(),
			FieldDescriptor: fd,
		})
	}
	for _, n := range b.nested {
		if m.Has(n.fd) {
			out = append(out, n.b.tooDeep(m.Get(n.fd).Message(), appendPath(path, n.fd))...)
		}
	}
	return out
}

func appendPath(path []*validate.FieldPathElement, fd protoreflect.FieldDescriptor) []*validate.FieldPathElement {
	out := make([]*validate.FieldPathElement, len(path), len(path)+1)
	copy(out, path)
	return append(out, validate.FieldPathElement_builder{
		FieldNumber: proto.Int32(int32(fd.Number())),
		FieldName:   proto.String(string(fd.Name())),
		FieldType:   descriptorpb.FieldDescriptorProto_Type(fd.Kind()).Enum(),
	}.Build())
}

// jsonDepth is how deeply a Struct, Value or ListValue nests objects and
// lists (a scalar Value is 0). It stops looking past limit: the result is
// then limit+1.
func jsonDepth(m proto.Message, limit int) int {
	switch v := m.(type) {
	case *structpb.Struct:
		if limit <= 0 {
			return 1
		}
		deepest := 0
		for _, f := range v.GetFields() {
			if deepest = max(deepest, jsonDepth(f, limit-1)); deepest >= limit {
				break
			}
		}
		return 1 + deepest
	case *structpb.ListValue:
		if limit <= 0 {
			return 1
		}
		deepest := 0
		for _, f := range v.GetValues() {
			if deepest = max(deepest, jsonDepth(f, limit-1)); deepest >= limit {
				break
			}
		}
		return 1 + deepest
	case *structpb.Value:
		switch k := v.GetKind().(type) {
		case *structpb.Value_StructValue:
			return jsonDepth(k.StructValue, limit)
		case *structpb.Value_ListValue:
			return jsonDepth(k.ListValue, limit)
		}
	}
	return 0
}

// nameMessageRuleFields gives the violations of message rules (CEL on a
// message, which protovalidate reports with the message's path) the
// field they concern: by convention the ids of servicecenterd's message
// rules begin with that field's name (target_worker_id.or_mobile,
// blacklist.unique_mobile), so that a BadRequest names a field for every
// violation. Other violations are left as they are.
func nameMessageRuleFields(md protoreflect.MessageDescriptor, err *protovalidate.ValidationError) {
	for _, v := range err.Violations {
		if v.FieldDescriptor != nil || v.Proto == nil {
			continue
		}
		name, _, ok := strings.Cut(v.Proto.GetRuleId(), ".")
		if !ok {
			continue
		}
		owner := messageAt(md, v.Proto.GetField().GetElements())
		if owner == nil {
			continue
		}
		fd := owner.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			continue
		}
		path := v.Proto.GetField().GetElements()
		v.Proto.SetField(validate.FieldPath_builder{Elements: appendPath(path, fd)}.Build())
	}
}

// messageAt is the message type a field path leads to from md, or nil.
func messageAt(md protoreflect.MessageDescriptor, path []*validate.FieldPathElement) protoreflect.MessageDescriptor {
	for _, e := range path {
		fd := md.Fields().ByNumber(protoreflect.FieldNumber(e.GetFieldNumber()))
		if fd == nil {
			return nil
		}
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if md = fd.Message(); md == nil {
			return nil
		}
	}
	return md
}
