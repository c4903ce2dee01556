package audit

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// Plan says which RPCs are audited and what their events list: it is
// compiled once, at start, from the servicecenter.v1.audit method option
// of each RPC (proto/servicecenter/v1/options.proto), into field paths
// and masks per method, so that listing a call's targets costs no more
// than a hand-written accessor would.
type Plan struct {
	methods map[string]*methodPlan
}

// methodPlan is one audited RPC.
type methodPlan struct {
	input, output protoreflect.MessageDescriptor
	targets       []targetPlan
	// capacity is the most targets a call can list (the samples at full
	// size), so that one allocation holds them.
	capacity int
}

// targetPlan is one compiled AuditTargetRule.
type targetPlan struct {
	kind     string
	response bool
	// path leads from the request (or the answer) to the field; at most
	// one of its fields is repeated, at index repeated (-1: none).
	path     []protoreflect.FieldDescriptor
	repeated int
	mask     scv1.AuditMask
	fallback bool
	count    bool
	sample   int
}

// NewPlan compiles the audit options of every RPC of every service in
// files (usually protoregistry.GlobalFiles). It fails on an option that
// does not resolve: an unknown field, a path that does not end at an id,
// a string without a mask, a repeated path without a sample.
func NewPlan(files *protoregistry.Files) (*Plan, error) {
	p := &Plan{methods: map[string]*methodPlan{}}
	var errs []error
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				rule := RuleOf(m)
				if rule == nil {
					continue
				}
				mp, err := compileMethod(m, rule)
				if err != nil {
					errs = append(errs, fmt.Errorf("audit option of %s: %w", m.FullName(), err))
					continue
				}
				p.methods[FullMethod(m)] = mp
			}
		}
		return true
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// RuleOf returns the audit option of an RPC, or nil when its calls are
// not audited (or its options do not parse).
func RuleOf(m protoreflect.MethodDescriptor) *scv1.AuditRule {
	opts := m.Options()
	if opts == nil {
		return nil
	}
	// Round-trip the options so that the extension is typed whether the
	// descriptor comes from generated code or from a compiler (dynamic).
	raw, err := proto.Marshal(opts)
	if err != nil {
		return nil
	}
	typed := &descriptorpb.MethodOptions{}
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(raw, typed); err != nil {
		return nil
	}
	rule, _ := proto.GetExtension(typed, scv1.E_Audit).(*scv1.AuditRule)
	if !proto.HasExtension(typed, scv1.E_Audit) {
		return nil
	}
	return rule
}

// FullMethod is an RPC's full gRPC method name, e.g.
// /servicecenter.v1.WorkcardService/AssignWorker.
func FullMethod(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

// Methods returns the full names of the audited RPCs, sorted.
func (p *Plan) Methods() []string {
	out := make([]string, 0, len(p.methods))
	for m := range p.methods {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Audited reports whether calls of fullMethod are recorded.
func (p *Plan) Audited(fullMethod string) bool { return p.methods[fullMethod] != nil }

// Targets lists the ids a call of fullMethod acts on, from its request
// and (when it succeeded) its response, as the RPC's audit option says;
// nil for an RPC that is not audited or messages of other types.
//
// Phone numbers keep only their first 3 and last 4 digits and ID numbers
// their first 6 and last 4 (internal/redact); free text (store codes,
// biz types, callers' request ids) passes redact.Text, so that a phone
// number typed into one is masked too. The list is bounded whatever the
// request holds: every id is cut to MaxTargetID characters (control
// characters replaced), and a repeated field lists at most its sample,
// and only when the call was admitted (passed authentication and
// authorization): a caller with no right to act names no one in the
// trail. For a stream, req is the first message received and resp the
// last one sent.
func (p *Plan) Targets(fullMethod string, req, resp any, admitted bool) []Target {
	mp := p.methods[fullMethod]
	if mp == nil {
		return nil
	}
	return mp.list(req, resp, admitted)
}

func (mp *methodPlan) list(req, resp any, admitted bool) []Target {
	in := messageOf(req, mp.input)
	if in == nil {
		return nil
	}
	var out protoreflect.Message // looked up once, when a target needs it
	outLooked := false
	t := make(targets, 0, mp.capacity)
	for i := range mp.targets {
		tp := &mp.targets[i]
		root := in
		if tp.response {
			if !outLooked {
				out, outLooked = messageOf(resp, mp.output), true
			}
			if root = out; root == nil {
				continue
			}
		}
		if tp.fallback && t.has(tp.kind) {
			continue
		}
		tp.list(&t, root, admitted)
	}
	return t
}

// messageOf returns x as a message of type want, or nil (nil, a typed nil
// pointer, another type).
func messageOf(x any, want protoreflect.MessageDescriptor) protoreflect.Message {
	pm, ok := x.(proto.Message)
	if !ok || pm == nil {
		return nil
	}
	if v := reflect.ValueOf(pm); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	m := pm.ProtoReflect()
	if m.Descriptor() != want {
		return nil
	}
	return m
}

// walk follows path from m: singular message fields (an unset one reads
// as empty), then the last field, whose value it returns; ok is false
// when the last field is an empty repeated field, whose Get would
// allocate. Scalars are read without Has: their zero value lists nothing.
func walk(m protoreflect.Message, path []protoreflect.FieldDescriptor) (v protoreflect.Value, ok bool) {
	for _, fd := range path[:len(path)-1] {
		m = m.Get(fd).Message()
	}
	last := path[len(path)-1]
	if last.IsList() && !m.Has(last) {
		return protoreflect.Value{}, false
	}
	return m.Get(last), true
}

// list appends the target's ids found in root.
func (tp *targetPlan) list(t *targets, root protoreflect.Message, admitted bool) {
	if tp.repeated < 0 {
		v, _ := walk(root, tp.path)
		tp.add(t, tp.path[len(tp.path)-1], v)
		return
	}
	v, ok := walk(root, tp.path[:tp.repeated+1])
	if tp.count {
		n := 0
		if ok {
			n = v.List().Len()
		}
		t.add(tp.kind, strconv.Itoa(n))
		return
	}
	if !ok || !admitted {
		return
	}
	list, rest := v.List(), tp.path[tp.repeated+1:]
	last := tp.path[len(tp.path)-1]
	for i := range min(list.Len(), tp.sample) {
		e := list.Get(i)
		if len(rest) > 0 {
			e, _ = walk(e.Message(), rest)
		}
		tp.add(t, last, e)
	}
}

// add appends one id, masked, unless it is a zero value.
func (tp *targetPlan) add(t *targets, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s := v.String()
		switch tp.mask {
		case scv1.AuditMask_AUDIT_MASK_PHONE:
			t.mobile(tp.kind, s)
		case scv1.AuditMask_AUDIT_MASK_ID:
			if s != "" {
				t.add(tp.kind, redact.ID(cut(s, MaxTargetID)))
			}
		case scv1.AuditMask_AUDIT_MASK_TEXT:
			t.text(tp.kind, s)
		default: // NONE; compile refuses UNSPECIFIED
			t.plain(tp.kind, s)
		}
	case protoreflect.EnumKind:
		n := v.Enum()
		if n == 0 {
			return
		}
		if ev := fd.Enum().Values().ByNumber(n); ev != nil {
			t.add(tp.kind, string(ev.Name()))
		} else {
			t.add(tp.kind, strconv.Itoa(int(n)))
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if n := v.Uint(); n != 0 {
			t.add(tp.kind, strconv.FormatUint(n, 10))
		}
	default: // the signed integers; compile refuses other kinds
		t.id(tp.kind, v.Int())
	}
}

const responsePrefix = "response."

// compileMethod compiles the audit option of m.
func compileMethod(m protoreflect.MethodDescriptor, rule *scv1.AuditRule) (*methodPlan, error) {
	mp := &methodPlan{input: m.Input(), output: m.Output()}
	if len(rule.GetTargets()) == 0 {
		return nil, errors.New("no targets")
	}
	var errs []error
	for i, r := range rule.GetTargets() {
		tp, err := compileTarget(m, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("target %d (%s %s): %w", i, r.GetKind(), r.GetField(), err))
			continue
		}
		mp.targets = append(mp.targets, tp)
		if tp.repeated >= 0 && !tp.count {
			mp.capacity += tp.sample
		} else {
			mp.capacity++
		}
	}
	return mp, errors.Join(errs...)
}

func compileTarget(m protoreflect.MethodDescriptor, r *scv1.AuditTargetRule) (targetPlan, error) {
	tp := targetPlan{kind: r.GetKind(), mask: r.GetMask(), fallback: r.GetFallback(), count: r.GetCount(), sample: int(r.GetSample()), repeated: -1}
	if tp.kind == "" {
		return tp, errors.New("no kind")
	}
	field, md := r.GetField(), m.Input()
	if rest, ok := strings.CutPrefix(field, responsePrefix); ok {
		field, md, tp.response = rest, m.Output(), true
	}
	if field == "" {
		return tp, errors.New("no field")
	}
	for name := range strings.SplitSeq(field, ".") {
		if md == nil {
			return tp, fmt.Errorf("%s is not a message field", tp.path[len(tp.path)-1].Name())
		}
		fd := md.Fields().ByName(protoreflect.Name(name))
		switch {
		case fd == nil:
			return tp, fmt.Errorf("%s has no field %q", md.FullName(), name)
		case fd.IsMap():
			return tp, fmt.Errorf("%s is a map", fd.FullName())
		case fd.IsList() && tp.repeated >= 0:
			return tp, fmt.Errorf("%s: a second repeated field on the path", fd.FullName())
		case fd.IsList():
			tp.repeated = len(tp.path)
		}
		tp.path = append(tp.path, fd)
		md = fd.Message()
	}
	last := tp.path[len(tp.path)-1]
	if tp.count {
		if tp.repeated != len(tp.path)-1 {
			return tp, errors.New("count needs a path ending at a repeated field")
		}
		if tp.mask != scv1.AuditMask_AUDIT_MASK_UNSPECIFIED || tp.sample != 0 {
			return tp, errors.New("a count has no mask and no sample")
		}
		return tp, nil
	}
	switch {
	case tp.repeated >= 0 && tp.sample <= 0:
		return tp, errors.New("a path through a repeated field needs a sample (or count)")
	case tp.repeated < 0 && tp.sample != 0:
		return tp, errors.New("sample without a repeated field on the path")
	}
	switch last.Kind() {
	case protoreflect.StringKind:
		if tp.mask == scv1.AuditMask_AUDIT_MASK_UNSPECIFIED {
			return tp, errors.New("a string field needs a mask (AUDIT_MASK_NONE to list it as it is)")
		}
	case protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if tp.mask != scv1.AuditMask_AUDIT_MASK_UNSPECIFIED && tp.mask != scv1.AuditMask_AUDIT_MASK_NONE {
			return tp, fmt.Errorf("%s is a number: it takes no mask", last.Name())
		}
	default:
		return tp, fmt.Errorf("%s is a %s, not an id (string, integer or enum)", last.Name(), last.Kind())
	}
	if _, ok := scv1.AuditMask_name[int32(tp.mask)]; !ok {
		return tp, fmt.Errorf("unknown mask %d", tp.mask)
	}
	return tp, nil
}
