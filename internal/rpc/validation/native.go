package validation

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/mainland"
)

// native is a complete native form of one message type's rules, read
// from its descriptor: valid reports true only when protovalidate would
// find no violation. A message type has one only when every rule of it
// and of its singular message fields is among those below; any other
// rule (a list rule, a pattern, a CEL expression of another shape) leaves
// the type to protovalidate. valid may say false for a valid message (a
// string that is not UTF-8, say): protovalidate then decides, and words
// the violations.
//
// The rules understood:
//   - required and ignore (IGNORE_UNSPECIFIED, IGNORE_IF_ZERO_VALUE,
//     IGNORE_ALWAYS), as protovalidate's field evaluator applies them;
//   - string: min_len, max_len and the custom rules of rules.proto
//     (residentid, mobile, printable, code, visibleascii), set to true;
//   - int32, int64: one bound, gt, gte, lt or lte (a range has
//     protovalidate's exclusive-range semantics, not read here);
//   - enum: defined_only;
//   - a google.protobuf.Struct field: the CEL rule "size(this) <= N";
//   - a message field: the rules of its message type (google.protobuf
//     types carry none);
//   - message CEL rules of the shape this.a != 0 || this.b != "": a
//     disjunction of comparisons of a singular, non-optional scalar field
//     with a literal of its kind (integers for integer and enum fields,
//     ” strings for string fields).
type native struct {
	fields []nativeField
	// rules are the message's CEL rules, each a disjunction.
	rules [][]nativeTerm
}

// nativeField is one field's rules.
type nativeField struct {
	fd       protoreflect.FieldDescriptor
	required bool
	// skipUnset: the field has presence or is IGNORE_IF_ZERO_VALUE, so an
	// unset (zero) value needs no check.
	skipUnset bool
	checks    []func(v protoreflect.Value, now time.Time) bool
	// msg is the message field's own rules; nil when it has none.
	msg *native
}

// nativeTerm is "this.<fd> != <lit>".
type nativeTerm struct {
	fd  protoreflect.FieldDescriptor
	str string
	num int64
}

// valid reports whether m certainly satisfies every rule (see native).
func (n *native) valid(m protoreflect.Message, now time.Time) bool {
	for i := range n.fields {
		f := &n.fields[i]
		has := m.Has(f.fd)
		if !has && (f.required || f.skipUnset) {
			if f.required {
				return false
			}
			continue
		}
		v := m.Get(f.fd)
		for _, c := range f.checks {
			if !c(v, now) {
				return false
			}
		}
		if f.msg != nil && !f.msg.valid(v.Message(), now) {
			return false
		}
	}
	for _, rule := range n.rules {
		ok := false
		for _, t := range rule {
			v := m.Get(t.fd)
			switch t.fd.Kind() {
			case protoreflect.StringKind:
				ok = v.String() != t.str
			case protoreflect.EnumKind:
				ok = int64(v.Enum()) != t.num
			default:
				ok = v.Int() != t.num
			}
			if ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// maxNativeDepth bounds how deeply nativeOf follows message fields.
const maxNativeDepth = 8

// nativeOf returns the native form of md's rules, or false when some rule
// is not understood. A message type without rules has a native form
// without fields.
func nativeOf(md protoreflect.MessageDescriptor, depth int) (*native, bool) {
	if depth > maxNativeDepth {
		return nil, false
	}
	n := &native{}
	if mr, ok := proto.GetExtension(md.Options(), validate.E_Message).(*validate.MessageRules); ok && mr != nil {
		for _, c := range mr.GetCel() {
			terms, ok := disjunction(md, c.GetExpression())
			if !ok {
				return nil, false
			}
			n.rules = append(n.rules, terms)
		}
		rest := proto.Clone(mr).(*validate.MessageRules)
		rest.SetCel(nil)
		if proto.Size(rest) != 0 {
			return nil, false // oneof rules, disabled, cel_expression...
		}
	}
	oneofs := md.Oneofs()
	for i := range oneofs.Len() {
		if proto.HasExtension(oneofs.Get(i).Options(), validate.E_Oneof) {
			return nil, false
		}
	}
	fields := md.Fields()
	for i := range fields.Len() {
		f, ok := nativeFieldOf(fields.Get(i), depth)
		if !ok {
			return nil, false
		}
		if f != nil {
			n.fields = append(n.fields, *f)
		}
	}
	return n, true
}

// nativeFieldOf returns fd's rules, nil when it has none, or false when
// one is not understood.
func nativeFieldOf(fd protoreflect.FieldDescriptor, depth int) (*nativeField, bool) {
	f := &nativeField{fd: fd}
	rules, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	if rules == nil {
		rules = &validate.FieldRules{}
	}
	if rules.GetIgnore() == validate.Ignore_IGNORE_ALWAYS {
		return nil, true
	}
	if fd.IsList() || fd.IsMap() {
		if proto.Size(rules) != 0 {
			return nil, false
		}
		if fd.Message() != nil && !rulesFree(fd.Message(), depth) {
			return nil, false // items with rules of their own
		}
		return nil, true
	}
	f.required = rules.GetRequired()
	f.skipUnset = fd.HasPresence() || rules.GetIgnore() == validate.Ignore_IGNORE_IF_ZERO_VALUE
	rest := proto.Clone(rules).(*validate.FieldRules)
	rest.ClearRequired()
	rest.ClearIgnore()
	var ok bool
	switch fd.Kind() {
	case protoreflect.StringKind:
		ok = f.stringRules(rest)
	case protoreflect.Int64Kind, protoreflect.Int32Kind, protoreflect.Sint64Kind, protoreflect.Sint32Kind,
		protoreflect.Sfixed64Kind, protoreflect.Sfixed32Kind:
		ok = f.intRules(rest)
	case protoreflect.EnumKind:
		if rest.GetEnum().GetDefinedOnly() {
			values := fd.Enum().Values()
			f.checks = append(f.checks, func(v protoreflect.Value, _ time.Time) bool { return values.ByNumber(v.Enum()) != nil })
			rest.GetEnum().ClearDefinedOnly()
		}
		ok = !rest.HasEnum() || proto.Size(rest.GetEnum()) == 0
		rest.ClearEnum()
	case protoreflect.MessageKind, protoreflect.GroupKind:
		ok = f.messageRules(rest, depth)
	default: // bool, unsigned, floating point, bytes: no rule understood
		ok = true
	}
	if !ok || proto.Size(rest) != 0 {
		return nil, false
	}
	if len(f.checks) == 0 && f.msg == nil && !f.required {
		return nil, true
	}
	return f, true
}

// rulesFree reports whether md's native form has no rules at all.
func rulesFree(md protoreflect.MessageDescriptor, depth int) bool {
	n, ok := nativeOf(md, depth+1)
	return ok && len(n.fields) == 0 && len(n.rules) == 0
}

// stringRules takes the string rules it understands out of rest.
func (f *nativeField) stringRules(rest *validate.FieldRules) bool {
	if !rest.HasString() {
		return true
	}
	str := rest.GetString()
	if str.HasMinLen() || str.HasMaxLen() {
		lo, hi, hasHi := str.GetMinLen(), str.GetMaxLen(), str.HasMaxLen()
		f.checks = append(f.checks, func(v protoreflect.Value, _ time.Time) bool {
			s := v.String()
			if !utf8.ValidString(s) {
				return false // protovalidate decides
			}
			n := uint64(utf8.RuneCountInString(s))
			return n >= lo && (!hasHi || n <= hi)
		})
		str.ClearMinLen()
		str.ClearMaxLen()
	}
	for _, r := range []struct {
		ext   protoreflect.ExtensionType
		valid func(string, time.Time) bool
	}{
		{scv1.E_Residentid, mainland.ValidResidentID},
		{scv1.E_Mobile, validMobile},
		{scv1.E_Printable, validPrintable},
		{scv1.E_Code, validCode},
		{scv1.E_Visibleascii, validVisibleASCII},
	} {
		if !proto.HasExtension(str, r.ext) {
			continue
		}
		if on, _ := proto.GetExtension(str, r.ext).(bool); on {
			valid := r.valid
			f.checks = append(f.checks, func(v protoreflect.Value, now time.Time) bool { return valid(v.String(), now) })
		}
		proto.ClearExtension(str, r.ext)
	}
	ok := proto.Size(str) == 0
	rest.ClearString()
	return ok
}

// intRules takes the integer rules it understands out of rest.
func (f *nativeField) intRules(rest *validate.FieldRules) bool {
	var b intBounds
	var r proto.Message
	switch {
	case rest.HasInt64():
		x := rest.GetInt64()
		b = intBounds{x.HasGt(), x.HasGte(), x.HasLt(), x.HasLte(), x.GetGt(), x.GetGte(), x.GetLt(), x.GetLte()}
		x.ClearGt()
		x.ClearGte()
		x.ClearLt()
		x.ClearLte()
		r = x
	case rest.HasInt32():
		x := rest.GetInt32()
		b = intBounds{x.HasGt(), x.HasGte(), x.HasLt(), x.HasLte(), int64(x.GetGt()), int64(x.GetGte()), int64(x.GetLt()), int64(x.GetLte())}
		x.ClearGt()
		x.ClearGte()
		x.ClearLt()
		x.ClearLte()
		r = x
	default:
		return !rest.HasSint64() && !rest.HasSint32() && !rest.HasSfixed64() && !rest.HasSfixed32()
	}
	rest.ClearInt64()
	rest.ClearInt32()
	n := 0
	for _, set := range []bool{b.hasGt, b.hasGte, b.hasLt, b.hasLte} {
		if set {
			n++
		}
	}
	if proto.Size(r) != 0 || n > 1 {
		return false // other int rules, or a range (whose exclusive form differs)
	}
	switch {
	case b.hasGt:
		f.checks = append(f.checks, func(v protoreflect.Value, _ time.Time) bool { return v.Int() > b.gt })
	case b.hasGte:
		f.checks = append(f.checks, func(v protoreflect.Value, _ time.Time) bool { return v.Int() >= b.gte })
	case b.hasLt:
		f.checks = append(f.checks, func(v protoreflect.Value, _ time.Time) bool { return v.Int() < b.lt })
	case b.hasLte:
		f.checks = append(f.checks, func(v protoreflect.Value, _ time.Time) bool { return v.Int() <= b.lte })
	}
	return true
}

// intBounds are the int32 and int64 rules understood, as int64.
type intBounds struct {
	hasGt, hasGte, hasLt, hasLte bool
	gt, gte, lt, lte             int64
}

// structSize is the one CEL field rule understood, on a Struct.
var structSize = regexp.MustCompile(`^size\(this\) <= ([0-9]{1,9})$`)

// messageRules takes the rules of a message field it understands out of
// rest and reads those of its type.
func (f *nativeField) messageRules(rest *validate.FieldRules, depth int) bool {
	md := f.fd.Message()
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		// Well-known types carry no rules of their own; their standard
		// rules (timestamp, duration, any) are not understood.
		if md.FullName() != "google.protobuf.Struct" {
			return proto.Size(rest) == 0
		}
		for _, c := range rest.GetCel() {
			sub := structSize.FindStringSubmatch(c.GetExpression())
			if sub == nil {
				return false
			}
			limit, _ := strconv.Atoi(sub[1])
			entries := md.Fields().ByName("fields") // Struct's map of its keys
			f.checks = append(f.checks, func(v protoreflect.Value, _ time.Time) bool {
				if s, ok := v.Message().Interface().(*structpb.Struct); ok {
					return len(s.GetFields()) <= limit
				}
				return v.Message().Get(entries).Map().Len() <= limit // a dynamic message
			})
		}
		rest.SetCel(nil)
		return proto.Size(rest) == 0
	}
	n, ok := nativeOf(md, depth+1)
	if !ok {
		return false
	}
	if len(n.fields) > 0 || len(n.rules) > 0 {
		f.msg = n
	}
	return true
}

// term is one comparison of a message rule's disjunction.
var term = regexp.MustCompile(`^this\.([a-z_][a-z0-9_]*) != (''|""|-?[0-9]{1,18})$`)

// disjunction reads a message rule of the shape this.a != 0 ||
// this.b != "" (see native), or says false.
func disjunction(md protoreflect.MessageDescriptor, expr string) ([]nativeTerm, bool) {
	var out []nativeTerm
	for _, part := range strings.Split(strings.TrimSpace(expr), " || ") {
		sub := term.FindStringSubmatch(part)
		if sub == nil {
			return nil, false
		}
		fd := md.Fields().ByName(protoreflect.Name(sub[1]))
		if fd == nil || fd.IsList() || fd.IsMap() || fd.HasPresence() {
			return nil, false
		}
		t := nativeTerm{fd: fd}
		isString := sub[2] == "''" || sub[2] == `""`
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !isString {
				return nil, false
			}
		case protoreflect.Int64Kind, protoreflect.Int32Kind, protoreflect.Sint64Kind, protoreflect.Sint32Kind,
			protoreflect.Sfixed64Kind, protoreflect.Sfixed32Kind, protoreflect.EnumKind:
			if isString {
				return nil, false
			}
			n, err := strconv.ParseInt(sub[2], 10, 64)
			if err != nil {
				return nil, false
			}
			t.num = n
		default:
			return nil, false
		}
		out = append(out, t)
	}
	return out, true
}

// validPrintable is the native form of (servicecenter.v1.printable):
// ^[^\p{Cc}\p{Cf}]*$, Go's regexp and unicode sharing their tables.
func validPrintable(s string, _ time.Time) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return validPrintableUnicode(s[i:])
		}
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func validPrintableUnicode(s string) bool {
	if !utf8.ValidString(s) {
		return false // protovalidate decides
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			return false
		}
	}
	return true
}

// validCode is the native form of (servicecenter.v1.code):
// ^[A-Za-z0-9._-]*$.
func validCode(s string, _ time.Time) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// validVisibleASCII is the native form of (servicecenter.v1.visibleascii):
// ^[!-~]*$.
func validVisibleASCII(s string, _ time.Time) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' {
			return false
		}
	}
	return true
}
