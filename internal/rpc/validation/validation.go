// Package validation is servicecenterd's request validator: protovalidate
// with the buf.validate rules of the protos, which stay the one source of
// truth, plus a native fast path for the two custom string rules of
// proto/servicecenter/v1/rules.proto, and three things protovalidate does
// not do:
//
//   - a list over its repeated.max_items is refused before any rule of its
//     items runs (protovalidate evaluates every item first: 1.3 s and
//     23 s under -race for a sync of 270,000 entries), with the violation
//     protovalidate would word;
//   - google.protobuf.Struct fields may nest at most MaxJSONDepth levels
//     (rule struct.max_depth), which CEL cannot express;
//   - a violation of a message rule (CEL on a message) names the field it
//     concerns, the first part of its id (see nameMessageRuleFields), so
//     that every field violation of a BadRequest has a field.
//
// Most requests never reach protovalidate: when every rule of a message
// type (and of its singular message fields) is one Validator can read
// from the descriptor (see native: required, ignore, string lengths, the
// custom string rules of rules.proto, one integer bound, enum
// defined_only, a Struct's "size(this) <= N", and message rules of the
// shape this.a != 0 || this.b != ""), a valid message is accepted
// natively, and protovalidate runs only when the native form finds a
// violation (or cannot tell, e.g. a string that is not UTF-8), so that
// every violation is still worded by protovalidate from the protos.
// protovalidate alone costs 4-11 µs for a valid AssignWorkerRequest, 35
// µs and 135 allocations for a GetWorkerTagsRequest (its CEL programs);
// the native form is a walk over the fields without allocating.
// Messages with other rules (lists, patterns, timestamps, other CEL)
// take the path below.
//
// (servicecenter.v1.residentid) is four CEL programs (format, birth date,
// birth date not in the future, GB 11643 check character) that cost about
// 11 µs and 130 allocations per ID number, more than a tenth of a
// GetWorkerTags call's CPU in servicecenterd; (servicecenter.v1.mobile)
// is a CEL regular expression. For a field whose only rules are one of
// them (with required or ignore), Validator checks the value natively
// (internal/mainland);
// when every such field of a message is valid, protovalidate runs with
// those fields filtered out, and otherwise protovalidate runs on the whole
// message, so that every violation is worded by protovalidate exactly as
// before. The native checks therefore only have to agree with the CEL
// rules on which values are valid; differential tests and fuzz targets
// hold them to that.
package validation

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/mainland"
)

// Validator validates requests against their buf.validate rules. It
// implements protovalidate.Validator and is safe for concurrent use.
type Validator struct {
	inner protovalidate.Validator
	now   func() time.Time
	plans sync.Map // protoreflect.FullName of a message -> *plan
}

var _ protovalidate.Validator = (*Validator)(nil)

// plan is what the fast path does for one message type.
type plan struct {
	// bounds are the native list and JSON checks; nil when there are none.
	bounds *bounds
	// fields are the top-level singular string fields whose only rules are
	// one custom rule and required or ignore; none means no fast path.
	fields []fastField
	// skip filters those fields out of protovalidate.
	skip protovalidate.ValidationOption
	// native is the complete native form of the type's rules; nil when
	// some rule is not understood (see native).
	native *native
}

// fastField is a field checked natively.
type fastField struct {
	fd protoreflect.FieldDescriptor
	// valid is the native form of the field's custom rule.
	valid func(s string, now time.Time) bool
	// ignoreEmpty: the field is IGNORE_IF_ZERO_VALUE, so "" needs no check.
	ignoreEmpty bool
}

// New returns a Validator. now is the clock of the "birth date not in the
// future" rule, for both the native check and CEL's now; nil means
// time.Now.
func New(now func() time.Time) (*Validator, error) {
	var opts []protovalidate.ValidatorOption
	if now != nil {
		opts = append(opts, protovalidate.WithNowFunc(func() *timestamppb.Timestamp { return timestamppb.New(now()) }))
	} else {
		now = time.Now
	}
	inner, err := protovalidate.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	return &Validator{inner: inner, now: now}, nil
}

// Validate checks msg. Without options, its rules are checked natively
// first where they can be (see the package comment); the violations are
// protovalidate's, and Validator's own checks (see the package comment)
// add theirs.
func (v *Validator) Validate(msg proto.Message, options ...protovalidate.ValidationOption) error {
	if msg == nil || len(options) > 0 {
		return v.inner.Validate(msg, options...)
	}
	refl := msg.ProtoReflect()
	p := v.plan(refl.Descriptor())
	if p.bounds != nil {
		if over := p.bounds.overLimit(refl, nil); len(over) > 0 {
			return &protovalidate.ValidationError{Violations: over}
		}
	}
	err := v.validate(msg, refl, p)
	var deep []*protovalidate.Violation
	if p.bounds != nil {
		deep = p.bounds.tooDeep(refl, nil)
	}
	if err == nil && len(deep) == 0 {
		return nil // a valid message allocates nothing here
	}
	return withViolations(refl.Descriptor(), err, deep)
}

// withViolations adds Validator's own violations (deep) to protovalidate's
// answer err and names the fields of message rules' violations.
func withViolations(md protoreflect.MessageDescriptor, err error, deep []*protovalidate.Violation) error {
	var verr *protovalidate.ValidationError
	if err != nil && !errors.As(err, &verr) {
		return err // a rule that failed to run
	}
	if len(deep) > 0 {
		if verr == nil {
			verr = &protovalidate.ValidationError{}
		}
		verr.Violations = append(verr.Violations, deep...)
	}
	nameMessageRuleFields(md, verr)
	return verr
}

// validate runs protovalidate, with the fast path when p has one.
func (v *Validator) validate(msg proto.Message, refl protoreflect.Message, p *plan) error {
	if p.native != nil && p.native.valid(refl, v.now()) {
		return nil
	}
	if len(p.fields) == 0 {
		return v.inner.Validate(msg)
	}
	now := v.now()
	for _, f := range p.fields {
		s := refl.Get(f.fd).String()
		if (s != "" || !f.ignoreEmpty) && !f.valid(s, now) {
			return v.inner.Validate(msg) // protovalidate words the violations
		}
	}
	return v.inner.Validate(msg, p.skip)
}

// plan returns the fast path for messages of md, computed once.
func (v *Validator) plan(md protoreflect.MessageDescriptor) *plan {
	if p, ok := v.plans.Load(md.FullName()); ok {
		return p.(*plan)
	}
	p := &plan{}
	if b := boundsOf(md, 0); !b.empty() {
		p.bounds = b
	}
	fields := md.Fields()
	for i := range fields.Len() {
		if f, ok := fastRule(fields.Get(i)); ok {
			p.fields = append(p.fields, f)
		}
	}
	if len(p.fields) > 0 {
		skipped := make(map[protoreflect.FullName]bool, len(p.fields))
		for _, f := range p.fields {
			skipped[f.fd.FullName()] = true
		}
		p.skip = protovalidate.WithFilter(protovalidate.FilterFunc(func(_ protoreflect.Message, d protoreflect.Descriptor) bool {
			fd, ok := d.(protoreflect.FieldDescriptor)
			return !ok || !skipped[fd.FullName()]
		}))
	}
	if n, ok := nativeOf(md, 0); ok {
		p.native = n
	}
	actual, _ := v.plans.LoadOrStore(md.FullName(), p)
	return actual.(*plan)
}

// fastRule returns the native check of fd when fd is a singular string
// field outside any oneof whose rules are exactly one of
// (servicecenter.v1.residentid) and (servicecenter.v1.mobile),
// set to true, with at most required and ignore besides.
func fastRule(fd protoreflect.FieldDescriptor) (fastField, bool) {
	if fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated || fd.ContainingOneof() != nil {
		return fastField{}, false
	}
	rules, ok := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	if !ok || rules == nil || rules.GetString() == nil {
		return fastField{}, false
	}
	str := proto.Clone(rules.GetString()).(*validate.StringRules)
	f := fastField{fd: fd}
	for _, r := range []struct {
		ext   protoreflect.ExtensionType
		valid func(string, time.Time) bool
	}{{scv1.E_Residentid, mainland.ValidResidentID}, {scv1.E_Mobile, validMobile}} {
		if !proto.HasExtension(str, r.ext) {
			continue
		}
		if on, _ := proto.GetExtension(str, r.ext).(bool); !on || f.valid != nil {
			return fastField{}, false // false, or both rules
		}
		f.valid = r.valid
		proto.ClearExtension(str, r.ext)
	}
	if f.valid == nil || proto.Size(str) != 0 {
		return fastField{}, false // no custom rule, or another string rule
	}
	rest := proto.Clone(rules).(*validate.FieldRules)
	rr := rest.ProtoReflect()
	for _, name := range []protoreflect.Name{"required", "ignore", "string"} {
		if fld := rr.Descriptor().Fields().ByName(name); fld != nil {
			rr.Clear(fld)
		}
	}
	if proto.Size(rest) != 0 {
		return fastField{}, false
	}
	f.ignoreEmpty = rules.GetIgnore() == validate.Ignore_IGNORE_IF_ZERO_VALUE && !fd.HasPresence()
	return f, true
}

// validMobile is mainland.ValidMobile in the shape of a fast rule.
func validMobile(s string, _ time.Time) bool { return mainland.ValidMobile(s) }
