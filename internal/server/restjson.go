package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/rpc/answerjson"
	"github.com/servicecenterd/servicecenterd/internal/rpc/requestjson"
)

// restJSON is the gateway's marshaler: runtime.JSONPb's answers, and a
// strict reading of request bodies. runtime.JSONPb reads the first JSON
// value of a body and ignores whatever follows, so that
// `{"target_worker_id":1}}` or two concatenated objects made the call;
// restJSON refuses anything after the value, and says which field is
// unknown (google.rpc.BadRequest) instead of protojson's raw text.
//
// The answers of the TOP calls are written by answerjson, protojson's
// output without its reflection, when the options are the ones it
// writes (answers), and flat request bodies are read by requestjson, as
// protojson would read them; everything else is protojson's.
type restJSON struct {
	*runtime.JSONPb
	answers bool
}

// newRESTJSON returns the marshaler with pb's options.
func newRESTJSON(pb *runtime.JSONPb) restJSON {
	return restJSON{JSONPb: pb, answers: pb.MarshalOptions == answerjson.Options()}
}

// answerSize is the room first given to an answer: GetWorkerTags' demo
// answer takes about 500 bytes, AssignWorker's about 100.
const answerSize = 512

// Marshal implements runtime.Marshaler.
func (m restJSON) Marshal(v any) ([]byte, error) {
	if m.answers && answerjson.Covers(v) {
		if b, ok := answerjson.Append(make([]byte, 0, answerSize), v); ok {
			return b, nil
		}
	}
	return m.JSONPb.Marshal(v)
}

// NewDecoder implements runtime.Marshaler. A unary call's body is one
// JSON value; a client stream's (ImportUserBlacklist's JSON form) is a
// sequence of them.
func (m restJSON) NewDecoder(r io.Reader) runtime.Decoder {
	b, _ := r.(*gatewayBody)
	if b != nil && b.stream {
		return &jsonStreamDecoder{m: m, dec: json.NewDecoder(r), body: b}
	}
	return &jsonDecoder{m: m, r: r, body: b}
}

// jsonDecoder reads a unary call's body: one JSON value and nothing
// after it but white space.
type jsonDecoder struct {
	m    restJSON
	r    io.Reader
	body *gatewayBody // nil when the body is not a gateway call's
	done bool
}

// Decode implements runtime.Decoder: io.EOF for an empty body (the
// gateway then sends an empty request).
func (d *jsonDecoder) Decode(v any) error {
	if d.done {
		return io.EOF
	}
	d.done = true
	data, err := io.ReadAll(d.r) // bounded by the gatewayBody
	if err != nil {
		return err
	}
	if len(bytes.Trim(data, jsonSpace)) == 0 {
		return io.EOF
	}
	msg, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a proto message", v)
	}
	if requestjson.Decode(data, msg) { // a flat body, as protojson would decode it
		return nil
	}
	if err := d.m.UnmarshalOptions.Unmarshal(data, msg); err != nil {
		return d.body.fail(jsonError(data, msg, err, ""))
	}
	return nil
}

// jsonStreamDecoder reads a client stream's body: JSON values one after
// the other.
type jsonStreamDecoder struct {
	m    restJSON
	dec  *json.Decoder
	body *gatewayBody
	n    int
}

// Decode implements runtime.Decoder.
func (d *jsonStreamDecoder) Decode(v any) error {
	var raw json.RawMessage
	if err := d.dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) || d.body.err != nil {
			return err
		}
		return d.body.fail(badJSON("body", fmt.Sprintf("message %d: %s", d.n+1, clip(err.Error())), "json.syntax"))
	}
	d.n++
	msg, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a proto message", v)
	}
	if err := d.m.UnmarshalOptions.Unmarshal(raw, msg); err != nil {
		return d.body.fail(jsonError(raw, msg, err, fmt.Sprintf("message %d: ", d.n)))
	}
	return nil
}

// fail records err as the call's answer (restErrorHandler) and returns
// it.
func (b *gatewayBody) fail(err error) error {
	if b != nil && b.err == nil {
		b.err = err
	}
	return err
}

// jsonSpace is JSON's white space.
const jsonSpace = " \t\r\n"

// unknownField matches protojson's error for a field the message lacks.
var unknownField = regexp.MustCompile(`unknown field "((?:[^"\\]|\\.)*)"`)

// jsonError is INVALID_ARGUMENT with a BadRequest for a body protojson
// refused (err): data after the JSON value, an unknown field (named with
// its path), or what protojson says, its values cut short. where prefixes
// the description (which message of a stream).
func jsonError(data []byte, msg proto.Message, err error, where string) error {
	if off, ok := trailingData(data); ok {
		return badJSON("body", fmt.Sprintf("%sunexpected data after the JSON value, at byte %d: send exactly one JSON object", where, off), "json.trailing_data")
	}
	// protobuf-go's errors start "proto: " or, at random, with a no-break
	// space, so that nobody matches them byte for byte.
	text := strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0")
	if m := unknownField.FindStringSubmatch(text); m != nil {
		name, uerr := strconv.Unquote(`"` + m[1] + `"`)
		if uerr != nil {
			name = m[1]
		}
		path, md := unknownFieldPath(data, msg.ProtoReflect().Descriptor(), name)
		return badJSON(clip(path), fmt.Sprintf("%sunknown field %s: not a field of %s", where, clip(strconv.Quote(name)), md.FullName()), "json.unknown_field")
	}
	return badJSON("body", where+clip(text), "json.invalid")
}

func badJSON(field, desc, reason string) error {
	return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: field, Description: desc, Reason: reason})
}

// trailingData reports whether data is one valid JSON value followed by
// something other than white space, and the offset of the rest.
func trailingData(data []byte) (int64, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return 0, false
	}
	off := dec.InputOffset()
	if len(bytes.Trim(data[off:], jsonSpace)) == 0 {
		return 0, false
	}
	return off + int64(len(data[off:])-len(bytes.TrimLeft(data[off:], jsonSpace))), true
}

// unknownFieldPath finds where an unknown field name sits in the JSON
// body of a message md, as a field path (blacklist[2].mobil), and the
// message that lacks it: the first key named name, in document order of
// objects and sorted within one, that its message's fields (JSON or proto
// names) lack; name and md when it cannot tell. google.protobuf types
// (Struct, Value...) hold any key and are not searched.
func unknownFieldPath(data []byte, md protoreflect.MessageDescriptor, name string) (string, protoreflect.MessageDescriptor) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return name, md
	}
	if path, in := findUnknown(v, md, "", name); path != "" {
		return path, in
	}
	return name, md
}

func findUnknown(v any, md protoreflect.MessageDescriptor, path, name string) (string, protoreflect.MessageDescriptor) {
	obj, ok := v.(map[string]any)
	if !ok || md.FullName().Parent() == "google.protobuf" {
		return "", nil
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		fields := md.Fields()
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(k))
		}
		if fd == nil {
			if k == name {
				return join(k), md
			}
			continue
		}
		if fd.Message() == nil {
			continue
		}
		sub := join(string(fd.Name()))
		switch {
		case fd.IsMap():
			if vd := fd.MapValue().Message(); vd != nil {
				m, _ := obj[k].(map[string]any)
				for _, mk := range slices.Sorted(maps.Keys(m)) {
					if p, in := findUnknown(m[mk], vd, fmt.Sprintf("%s[%q]", sub, mk), name); p != "" {
						return p, in
					}
				}
			}
		case fd.IsList():
			list, _ := obj[k].([]any)
			for i, el := range list {
				if p, in := findUnknown(el, fd.Message(), fmt.Sprintf("%s[%d]", sub, i), name); p != "" {
					return p, in
				}
			}
		default:
			if p, in := findUnknown(obj[k], fd.Message(), sub, name); p != "" {
				return p, in
			}
		}
	}
	return "", nil
}
