// Package requestjson decodes the simplest REST request bodies, a flat
// JSON object of strings, integers, booleans and enum names (as
// GetWorkerTags' and AssignWorker's usually are), without protojson's
// tokenizer, into exactly the message protojson.Unmarshal would make of
// them.
//
// It accepts a strict subset of what protojson accepts and reports false
// for anything else, leaving the body to protojson (which decides, and
// words the refusal): a key with an escape or one that names no field
// (by its JSON or proto name), a field given twice, a list, map, message
// or oneof field, a null, a string with an escape, a control character
// or invalid UTF-8, a number other than a plain integer in range, an
// enum number or unknown name, or anything after the object but white
// space. A differential test and a fuzz target hold it to protojson.
package requestjson

import (
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// Decode sets m to data's JSON object, as protojson.Unmarshal would,
// and reports true; it reports false, m unchanged, for a body it leaves
// to protojson.
func Decode(data []byte, m proto.Message) bool {
	md := m.ProtoReflect().Descriptor()
	if md.FullName().Parent() == "google.protobuf" {
		return false // well-known types have JSON forms of their own
	}
	s := string(data) // keys and values are slices of it: one copy
	d := decoder{s: s}
	fields := md.Fields()
	type value struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var buf [12]value
	values := buf[:0]
	var seen uint64
	d.space()
	if !d.byte('{') {
		return false
	}
	d.space()
	if !d.byte('}') {
		for {
			d.space()
			name, ok := d.string()
			if !ok {
				return false
			}
			fd := fields.ByJSONName(name)
			if fd == nil {
				fd = fields.ByTextName(name)
			}
			if fd == nil || fd.Number() >= 64 || seen&(1<<fd.Number()) != 0 {
				return false
			}
			seen |= 1 << fd.Number()
			d.space()
			if !d.byte(':') {
				return false
			}
			d.space()
			v, ok := d.value(fd)
			if !ok {
				return false
			}
			values = append(values, value{fd, v})
			d.space()
			if d.byte('}') {
				break
			}
			if !d.byte(',') {
				return false
			}
		}
	}
	d.space()
	if d.i != len(s) {
		return false
	}
	proto.Reset(m)
	for _, v := range values {
		set(m, v.fd, v.v)
	}
	return true
}

// set sets m's field fd to v: directly for the fields of GetWorkerTags'
// and AssignWorker's requests (protoreflect's Set boxes each string
// twice), through protoreflect for the others.
func set(m proto.Message, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch m := m.(type) {
	case *scv1.GetWorkerTagsRequest:
		switch fd.Name() {
		case "id_number":
			m.IdNumber = v.String()
			return
		case "mobile":
			m.Mobile = v.String()
			return
		}
	case *scv1.AssignWorkerRequest:
		switch fd.Name() {
		case "workcard_id":
			m.WorkcardId = v.Int()
			return
		case "outer_id":
			m.OuterId = v.String()
			return
		case "target_worker_id":
			m.TargetWorkerId = v.Int()
			return
		case "target_worker_mobile":
			m.TargetWorkerMobile = v.String()
			return
		case "type":
			m.Type = scv1.OperatorType(v.Enum())
			return
		case "service_store_id":
			m.ServiceStoreId = v.Int()
			return
		case "target_worker_name":
			m.TargetWorkerName = v.String()
			return
		case "stop_order_type_check_reason":
			m.StopOrderTypeCheckReason = v.Int()
			return
		case "fulfil_task_id":
			m.FulfilTaskId = v.Int()
			return
		}
	}
	m.ProtoReflect().Set(fd, v)
}

// decoder reads s from i.
type decoder struct {
	s string
	i int
}

// space skips JSON's white space.
func (d *decoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// byte reads c if it is next.
func (d *decoder) byte(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// string reads a JSON string without escapes or control characters, in
// valid UTF-8, and returns its content.
func (d *decoder) string() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			out := d.s[start:d.i]
			d.i++
			return out, true
		case c == '\\', c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			d.i++
		default:
			r, n := utf8.DecodeRuneInString(d.s[d.i:])
			if r == utf8.RuneError && n == 1 {
				return "", false
			}
			d.i += n
		}
	}
	return "", false
}

// integer reads a plain JSON integer: an optional minus and digits
// without leading zeros.
func (d *decoder) integer() (string, bool) {
	start := d.i
	d.byte('-')
	digits := d.i
	for d.i < len(d.s) && '0' <= d.s[d.i] && d.s[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || (n > 1 && d.s[digits] == '0') {
		return "", false
	}
	if d.i < len(d.s) {
		switch d.s[d.i] {
		case '.', 'e', 'E':
			return "", false
		}
	}
	return d.s[start:d.i], true
}

// plainInteger reports whether s is all of a plain integer.
func plainInteger(s string) bool {
	d := decoder{s: s}
	_, ok := d.integer()
	return ok && d.i == len(s)
}

// value reads the value of a field fd of the kinds it decodes.
func (d *decoder) value(fd protoreflect.FieldDescriptor) (protoreflect.Value, bool) {
	if fd.IsList() || fd.IsMap() || fd.ContainingOneof() != nil {
		return protoreflect.Value{}, false
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		if s, ok := d.string(); ok {
			return protoreflect.ValueOfString(s), true
		}
	case protoreflect.BoolKind:
		switch {
		case len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "true":
			d.i += 4
			return protoreflect.ValueOfBool(true), true
		case len(d.s)-d.i >= 5 && d.s[d.i:d.i+5] == "false":
			d.i += 5
			return protoreflect.ValueOfBool(false), true
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		var text string
		ok := false
		if d.i < len(d.s) && d.s[d.i] == '"' {
			if text, ok = d.string(); ok && !plainInteger(text) {
				ok = false
			}
		} else {
			text, ok = d.integer()
		}
		if !ok {
			return protoreflect.Value{}, false
		}
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return protoreflect.ValueOfInt64(n), true
		}
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			break
		}
		if name, ok := d.string(); ok {
			if ev := fd.Enum().Values().ByName(protoreflect.Name(name)); ev != nil {
				return protoreflect.ValueOfEnum(ev.Number()), true
			}
		}
	}
	return protoreflect.Value{}, false
}
