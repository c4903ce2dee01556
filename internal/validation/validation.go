// Package validation is servicecenterd's request validator: protovalidate
// with the buf.validate rules of the protos, which stay the one source of
// truth, plus a native fast path for the costliest rule.
//
// The (servicecenter.v1.resident_id) rule is four CEL programs (format,
// birth date, birth date not in the future, GB 11643 check character) that
// cost about 11 µs and 130 allocations per ID number, more than a tenth of
// a GetWorkerTags call's CPU in servicecenterd. For a field whose only
// rules are resident_id (with required or ignore), Validator checks the
// value natively; when it is valid, protovalidate runs with that field
// filtered out, and when it is not, protovalidate runs on the whole
// message, so that every violation is worded by protovalidate exactly as
// before. The native check therefore only has to agree with the CEL rules
// on which values are valid; a differential test and a fuzz target hold it
// to that.
package validation

import (
	"fmt"
	"sync"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
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
	// fields are the top-level singular string fields whose only rules are
	// resident_id, required and ignore; none means no fast path.
	fields []protoreflect.FieldDescriptor
	// skip filters those fields out of protovalidate.
	skip protovalidate.ValidationOption
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

// Validate checks msg. Without options, fields carrying only the
// resident_id rule are checked natively first (see the package comment);
// the result is always protovalidate's.
func (v *Validator) Validate(msg proto.Message, options ...protovalidate.ValidationOption) error {
	if msg == nil || len(options) > 0 {
		return v.inner.Validate(msg, options...)
	}
	refl := msg.ProtoReflect()
	p := v.plan(refl.Descriptor())
	if len(p.fields) == 0 {
		return v.inner.Validate(msg)
	}
	now := v.now()
	for _, fd := range p.fields {
		if !ValidResidentID(refl.Get(fd).String(), now) {
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
	fields := md.Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); onlyResidentID(fd) {
			p.fields = append(p.fields, fd)
		}
	}
	if len(p.fields) > 0 {
		skipped := make(map[protoreflect.FullName]bool, len(p.fields))
		for _, fd := range p.fields {
			skipped[fd.FullName()] = true
		}
		p.skip = protovalidate.WithFilter(protovalidate.FilterFunc(func(_ protoreflect.Message, d protoreflect.Descriptor) bool {
			fd, ok := d.(protoreflect.FieldDescriptor)
			return !ok || !skipped[fd.FullName()]
		}))
	}
	actual, _ := v.plans.LoadOrStore(md.FullName(), p)
	return actual.(*plan)
}

// onlyResidentID reports whether fd is a singular string field outside any
// oneof whose rules are (servicecenter.v1.resident_id) = true and at most
// required and ignore besides.
func onlyResidentID(fd protoreflect.FieldDescriptor) bool {
	if fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated || fd.ContainingOneof() != nil {
		return false
	}
	rules, ok := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	if !ok || rules == nil || rules.GetString() == nil {
		return false
	}
	str := proto.Clone(rules.GetString()).(*validate.StringRules)
	if on, _ := proto.GetExtension(str, scv1.E_ResidentId).(bool); !on {
		return false
	}
	proto.ClearExtension(str, scv1.E_ResidentId)
	if proto.Size(str) != 0 {
		return false // another string rule
	}
	rest := proto.Clone(rules).(*validate.FieldRules)
	rr := rest.ProtoReflect()
	for _, name := range []protoreflect.Name{"required", "ignore", "string"} {
		if f := rr.Descriptor().Fields().ByName(name); f != nil {
			rr.Clear(f)
		}
	}
	return proto.Size(rest) == 0
}

// ValidResidentID reports whether s passes all four resident_id rules of
// proto/servicecenter/v1/rules.proto at time now: 17 ASCII digits and a
// digit or uppercase X; a real birth date (digits 7 to 14, yyyymmdd) in or
// after 1900 and not after now's date in UTC+8; and the GB 11643 check
// character.
func ValidResidentID(s string, now time.Time) bool {
	if len(s) != 18 {
		return false
	}
	for i := range 17 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if c := s[17]; (c < '0' || c > '9') && c != 'X' {
		return false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	year, month, day := num(6, 10), num(10, 12), num(12, 14)
	if year < 1900 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return false
	}
	today := now.UTC().Add(8 * time.Hour) // the date in UTC+8, read as UTC
	if num(6, 14) > today.Year()*10000+int(today.Month())*100+today.Day() {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(s[i]-'0') * w
	}
	return "10X98765432"[sum%11] == s[17]
}

// daysIn is the number of days in month of year, Gregorian.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
