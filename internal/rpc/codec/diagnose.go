package codec

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// maxPathElems bounds the field path quoted in an answer; a longer path
// ends in "…".
const maxPathElems = 8

// maxKeyQuote is the longest map key quoted in a field path; longer or
// unprintable keys are shown as […].
const maxKeyQuote = 32

// failure is what was wrong with a request that did not decode.
type failure struct {
	reason string
	// field is the field path, e.g. blacklist[2].mobile or ext_json; ""
	// when the problem is not inside a known field.
	field string
	// offset is where the problem starts, in bytes from the start of the
	// request; -1 when unknown.
	offset int
	desc   string
}

// status is the failure as INVALID_ARGUMENT with an ErrorInfo and, when
// the field is known, a BadRequest.
func (f failure) status() error {
	msg := "invalid request: " + f.desc
	if f.field != "" {
		msg = "invalid " + f.field + ": " + f.desc
	}
	md := map[string]string{}
	if f.field != "" {
		md["field"] = f.field
	}
	if f.offset >= 0 {
		md["offset"] = strconv.Itoa(f.offset)
	}
	if f.reason == ReasonTooDeep {
		md["max_depth"] = strconv.Itoa(MaxDepth)
	}
	details := []protoadapt.MessageV1{rpc.Info(f.reason, md)}
	if f.field != "" {
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: f.field, Description: f.desc, Reason: f.reason},
		}})
	}
	return rpc.WithDetails(status.New(codes.InvalidArgument, msg), details...)
}

// diagnose finds why b, a message of type md, failed to decode with err.
// It walks the wire data as protobuf-go's decoder does (the same
// structure checks, UTF-8 checks and depth count; the tests hold the two
// to agreeing) but keeps track of where it is, which protobuf-go's errors
// do not say. It runs only for requests that failed, in time linear in
// their size. When it finds nothing (a check it does not model), the
// answer says what protobuf-go said.
func diagnose(b []byte, md protoreflect.MessageDescriptor, err error) failure {
	if f, ok := walkMessage(b, md, 1, 0, nil); ok {
		return f
	}
	return failure{reason: ReasonMalformed, offset: -1, desc: "the message cannot be decoded (" + plain(err) + ")"}
}

// pathElem is one step of a field path, rendered only when a failure is
// found.
type pathElem struct {
	parent *pathElem
	fd     protoreflect.FieldDescriptor
	index  int    // element of a repeated field; -1 otherwise
	key    []byte // map key (raw bytes); nil for other fields
	isKey  bool
}

func (p *pathElem) child(fd protoreflect.FieldDescriptor, index int) *pathElem {
	return &pathElem{parent: p, fd: fd, index: index}
}

// render is the path as protovalidate writes field paths, e.g.
// ext_json.fields["a"].list_value.values[0]; personal data is masked.
func (p *pathElem) render() string {
	var elems []*pathElem
	for e := p; e != nil; e = e.parent {
		elems = append(elems, e)
	}
	var b strings.Builder
	for i := len(elems) - 1; i >= 0; i-- {
		if len(elems)-1-i == maxPathElems {
			b.WriteString("…")
			break
		}
		e := elems[i]
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(string(e.fd.Name()))
		switch {
		case e.isKey:
			b.WriteString("[" + quoteKey(e.key) + "]")
		case e.index >= 0:
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		}
	}
	return redact.Text(b.String())
}

// top is the path's first element (the request's own field), e.g.
// ext_json or blacklist[3].
func (p *pathElem) top() string {
	e := p
	for e.parent != nil {
		e = e.parent
	}
	return (&pathElem{fd: e.fd, index: e.index, key: e.key, isKey: e.isKey}).render()
}

// quoteKey quotes a short printable key, else stands in for it.
func quoteKey(k []byte) string {
	if len(k) > maxKeyQuote || !utf8.Valid(k) {
		return "…"
	}
	for _, r := range string(k) {
		if !unicode.IsPrint(r) {
			return "…"
		}
	}
	return strconv.Quote(string(k))
}

func fieldOf(p *pathElem) string {
	if p == nil {
		return ""
	}
	return p.render()
}

// malformed is a structure problem; code is protowire's (negative)
// error code.
func malformed(p *pathElem, offset, code int) failure {
	return malformedWhy(p, offset, plain(protowire.ParseError(code)))
}

// plain is a protobuf-go error's text without its "proto:" prefix (which
// protobuf-go writes with a random space or no-break space, so that its
// texts are not matched).
func plain(err error) string {
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "proto:"); ok {
		s = strings.TrimLeft(rest, " \u00a0")
	}
	return s
}

func malformedWhy(p *pathElem, offset int, why string) failure {
	return failure{reason: ReasonMalformed, field: fieldOf(p), offset: offset, desc: "not valid protobuf wire data (" + why + ")"}
}

func invalidUTF8(p *pathElem, offset int, what string) failure {
	return failure{reason: ReasonInvalidUTF8, field: fieldOf(p), offset: offset, desc: what + " is not valid UTF-8"}
}

func tooDeep(p *pathElem, offset int) failure {
	return failure{reason: ReasonTooDeep, field: p.top(), offset: offset,
		desc: "nested more than " + strconv.Itoa(MaxDepth) + " levels deep (each message, map entry and JSON object or list counts)"}
}

// enforceUTF8 reports whether protobuf-go refuses invalid UTF-8 in fd:
// strings of proto3 files (and of editions, whose default is to verify).
func enforceUTF8(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.StringKind && fd.Syntax() != protoreflect.Proto2
}

// walkMessage checks b, a message of type md at nesting level depth (the
// request is 1) starting at byte base of the request, inside field path
// p. It returns the first problem it finds.
func walkMessage(b []byte, md protoreflect.MessageDescriptor, depth, base int, p *pathElem) (failure, bool) {
	var seen map[protowire.Number]int // occurrences of repeated fields, for indexes
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return malformed(p, base+off, n), true
		}
		if num > protowire.MaxValidNumber {
			return malformedWhy(p, base+off, "invalid field number"), true
		}
		fd := md.Fields().ByNumber(num)
		vn := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if fd == nil || typ != protowire.BytesType {
			// Unknown fields and fields of another wire type are kept as
			// unknown; only their structure is checked.
			if vn < 0 {
				return malformed(p, base+off, vn), true
			}
			off += n + vn
			continue
		}
		index := -1
		if fd.IsList() {
			if seen == nil {
				seen = map[protowire.Number]int{}
			}
			index = seen[num]
			seen[num]++
		}
		here := p.child(fd, index)
		if vn < 0 {
			return malformed(here, base+off, vn), true
		}
		v, ln := protowire.ConsumeBytes(b[off+n:])
		at := base + off + n + ln - len(v)
		if f, bad := walkField(v, fd, depth, at, here); bad {
			return f, true
		}
		off += n + vn
	}
	return failure{}, false
}

// walkField checks v, the length-delimited value of fd in a message at
// level depth.
func walkField(v []byte, fd protoreflect.FieldDescriptor, depth, at int, here *pathElem) (failure, bool) {
	switch {
	case fd.IsMap():
		return walkMapEntry(v, fd, depth+1, at, here)
	case fd.Kind() == protoreflect.MessageKind:
		if depth+1 > MaxDepth {
			return tooDeep(here, at), true
		}
		return walkMessage(v, fd.Message(), depth+1, at, here)
	case enforceUTF8(fd):
		if !utf8.Valid(v) {
			return invalidUTF8(here, at, "the string"), true
		}
	case fd.IsList():
		return walkPacked(v, fd, at, here)
	}
	return failure{}, false
}

// walkMapEntry checks v, an entry of map field fd, at level depth (map
// entries count as a level). Like protobuf-go, it checks every occurrence
// of the key and the value, in order.
func walkMapEntry(v []byte, fd protoreflect.FieldDescriptor, depth, at int, here *pathElem) (failure, bool) {
	if depth > MaxDepth {
		return tooDeep(here, at), true
	}
	keyFD, valFD := fd.MapKey(), fd.MapValue()
	for off := 0; off < len(v); {
		num, typ, n := protowire.ConsumeTag(v[off:])
		if n < 0 {
			return malformed(here, at+off, n), true
		}
		if num > protowire.MaxValidNumber {
			return malformedWhy(here, at+off, "invalid field number"), true
		}
		vn := protowire.ConsumeFieldValue(num, typ, v[off+n:])
		if vn < 0 {
			return malformed(here, at+off, vn), true
		}
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			b, ln := protowire.ConsumeBytes(v[off+n:])
			pos := at + off + n + ln - len(b)
			if num == 1 && keyFD.Kind() == protoreflect.StringKind {
				if enforceUTF8(keyFD) && !utf8.Valid(b) {
					here.key, here.isKey = nil, false
					return invalidUTF8(here, pos, "a map key"), true
				}
				here.key, here.isKey = b, true
			}
			if num == 2 {
				switch {
				case valFD.Kind() == protoreflect.MessageKind:
					if depth+1 > MaxDepth {
						return tooDeep(here, pos), true
					}
					if f, bad := walkMessage(b, valFD.Message(), depth+1, pos, here); bad {
						return f, true
					}
				case enforceUTF8(valFD) && !utf8.Valid(b):
					return invalidUTF8(here, pos, "the string"), true
				}
			}
		}
		off += n + vn
	}
	return failure{}, false
}

// walkPacked checks the packed elements of a repeated scalar field.
func walkPacked(v []byte, fd protoreflect.FieldDescriptor, at int, here *pathElem) (failure, bool) {
	here.index = -1
	switch fd.Kind() {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind,
		protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		for off := 0; off < len(v); {
			_, n := protowire.ConsumeVarint(v[off:])
			if n < 0 {
				return malformed(here, at+off, n), true
			}
			off += n
		}
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		if len(v)%4 != 0 {
			return malformedWhy(here, at+len(v)-len(v)%4, "unexpected EOF"), true
		}
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		if len(v)%8 != 0 {
			return malformedWhy(here, at+len(v)-len(v)%8, "unexpected EOF"), true
		}
	}
	return failure{}, false
}
