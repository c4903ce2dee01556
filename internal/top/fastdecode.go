package top

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// One-pass decoding of the answers on the hot path (taglist.get and
// assignworker), without encoding/json's reflection. It is ours rather
// than a library's (valyala/fastjson, goccy/go-json, segmentio/encoding):
// it needs to handle two small, fixed shapes, and it must give exactly
// encoding/json's result or give up, so that encoding/json stays the one
// decoder that words every error. A faster general decoder would be a
// second implementation of JSON to trust with that equivalence; this one
// is a cursor over the text that refuses anything
// unusual: an escaped or non-UTF-8 key, a key that matches a field only
// case-insensitively (encoding/json would decode it), a value of the wrong
// kind, a value whose UnmarshalJSON fails. FuzzDecodeFast holds it to
// encoding/json.

// fastDecoder is a response that can decode the value of its success
// envelope in one pass. decodeFast is handed valid JSON and the zero
// value as its receiver; it reports false, leaving the receiver as it
// was, when encoding/json must decode instead.
type fastDecoder interface {
	decodeFast(b []byte) bool
}

// cursor reads a valid JSON text (json.Valid said so) from b[i] on, once:
// each value is either decoded where it stands or skipped.
type cursor struct {
	b []byte
	i int
}

// null consumes a null at the cursor and reports whether there was one.
func (c *cursor) null() bool {
	if c.i+4 <= len(c.b) && string(c.b[c.i:c.i+4]) == "null" {
		c.i += 4
		return true
	}
	return false
}

// value consumes the value at the cursor and returns its exact bytes.
func (c *cursor) value() []byte {
	start := c.i
	c.i = skipJSONValue(c.b, c.i)
	return c.b[start:c.i]
}

// object consumes the object at the cursor, calling member with each key;
// member must consume the key's value (value, or a decoder of its own).
// null is consumed and left alone, as encoding/json leaves a struct. It
// reports false when the value is neither, a key has an escape or is not
// UTF-8, or member reports false.
func (c *cursor) object(member func(key []byte) bool) bool {
	if c.null() {
		return true
	}
	b := c.b
	if c.i >= len(b) || b[c.i] != '{' {
		return false
	}
	c.i = skipSpace(b, c.i+1)
	if c.i < len(b) && b[c.i] == '}' {
		c.i++
		return true
	}
	for c.i < len(b) && b[c.i] == '"' {
		end := bytes.IndexByte(b[c.i+1:], '"')
		if end < 0 {
			return false
		}
		key := b[c.i+1 : c.i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			return false
		}
		c.i = skipSpace(b, c.i+end+2)
		if c.i >= len(b) || b[c.i] != ':' {
			return false
		}
		c.i = skipSpace(b, c.i+1)
		if !member(key) {
			return false
		}
		c.i = skipSpace(b, c.i)
		if c.i < len(b) && b[c.i] == '}' {
			c.i++
			return true
		}
		if c.i >= len(b) || b[c.i] != ',' {
			return false
		}
		c.i = skipSpace(b, c.i+1)
	}
	return false
}

// array consumes the array at the cursor, calling elem for each element,
// which elem must consume. It reports false when the value is not an
// array or elem reports false.
func (c *cursor) array(elem func() bool) bool {
	b := c.b
	if c.i >= len(b) || b[c.i] != '[' {
		return false
	}
	c.i = skipSpace(b, c.i+1)
	if c.i < len(b) && b[c.i] == ']' {
		c.i++
		return true
	}
	for c.i < len(b) {
		if !elem() {
			return false
		}
		c.i = skipSpace(b, c.i)
		if c.i < len(b) && b[c.i] == ']' {
			c.i++
			return true
		}
		if c.i >= len(b) || b[c.i] != ',' {
			return false
		}
		c.i = skipSpace(b, c.i+1)
	}
	return false
}

// stringField consumes the value at the cursor into a string field as
// encoding/json does: a string sets it, null leaves it as it is; anything
// else reports false.
func (c *cursor) stringField(dst *string) bool {
	if c.null() {
		return true
	}
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return false
	}
	v := c.value()
	if inner, ok := plainString(v); ok {
		*dst = string(inner)
		return true
	}
	if s, ok := unescapeString(v); ok {
		*dst = s
		return true
	}
	return unmarshalString(v, dst) == nil
}

// unmarshaler is a field type with its own UnmarshalJSON (Bool, String,
// Int64, Time), which encoding/json calls with the value's exact bytes,
// null included.
type unmarshaler interface{ UnmarshalJSON([]byte) error }

// field consumes the value at the cursor into u.
func (c *cursor) field(u unmarshaler) bool { return u.UnmarshalJSON(c.value()) == nil }

// unknown consumes the value of key, a key that names none of fields,
// not even case-insensitively (encoding/json matches a key to a field
// that way, with the folding of strings.EqualFold, and would decode it);
// it reports false for a key that does.
func (c *cursor) unknown(key []byte, fields ...string) bool {
	for _, f := range fields {
		if strings.EqualFold(string(key), f) {
			return false
		}
	}
	c.value()
	return true
}

// cursorDecoder is a type that decodes itself from the cursor in place, as
// encoding/json decodes into an existing value (merging).
type cursorDecoder interface {
	decodeAt(c *cursor) bool
}

// decodeWhole decodes the valid JSON text b into v, the zero value of its
// type, on a copy: v changes only when the whole text decodes.
func decodeWhole[T any, PT interface {
	*T
	cursorDecoder
}](b []byte, v PT) bool {
	var tmp T
	c := cursor{b: b, i: skipSpace(b, 0)}
	if !PT(&tmp).decodeAt(&c) || skipSpace(b, c.i) != len(b) {
		return false
	}
	*v = tmp
	return true
}

// decodeFast implements fastDecoder.
func (r *TagListGetResponse) decodeFast(b []byte) bool {
	if r.RequestID != "" || r.Result.ResultData != nil || r.Result.MsgCode != "" || r.Result.MsgInfo != "" ||
		r.Result.Success || r.Result.HomeWorkerTagsBeside != nil {
		return false // not the zero value: encoding/json merges
	}
	return decodeWhole(b, r)
}

func (r *TagListGetResponse) decodeAt(c *cursor) bool {
	if c.null() {
		return false // null decodes to nothing: not worth a path
	}
	return c.object(func(key []byte) bool {
		switch string(key) {
		case "result":
			return r.Result.decodeAt(c)
		case "request_id":
			return c.stringField(&r.RequestID)
		}
		return c.unknown(key, "result", "request_id")
	})
}

func (r *TagListResult) decodeAt(c *cursor) bool {
	return c.object(func(key []byte) bool {
		switch string(key) {
		case "result_data":
			if c.null() {
				r.ResultData = nil
				return true
			}
			if r.ResultData == nil {
				r.ResultData = new(WorkerTag)
			}
			return r.ResultData.decodeAt(c)
		case "msg_code":
			return c.field(&r.MsgCode)
		case "msg_info":
			return c.stringField(&r.MsgInfo)
		case "success":
			return c.field(&r.Success)
		case "home_worker_tags":
			return r.HomeWorkerTagsBeside.decodeAt(c)
		}
		return c.unknown(key, "result_data", "msg_code", "msg_info", "success", "home_worker_tags")
	})
}

func (w *WorkerTag) decodeAt(c *cursor) bool {
	return c.object(func(key []byte) bool {
		switch string(key) {
		case "black_list":
			return c.field(&w.BlackList)
		case "degradation":
			return c.field(&w.Degradation)
		case "ability_map":
			return c.stringField(&w.AbilityMap)
		case "vip":
			return c.field(&w.Vip)
		case "big_promotion":
			return c.field(&w.BigPromotion)
		case "home_worker_tags":
			return w.HomeWorkerTags.decodeAt(c)
		}
		return c.unknown(key, "black_list", "degradation", "ability_map", "vip", "big_promotion", "home_worker_tags")
	})
}

func (m *WorkerManageRule) decodeAt(c *cursor) bool {
	return c.object(func(key []byte) bool {
		switch string(key) {
		case "name":
			return c.stringField(&m.Name)
		case "begin_time":
			return c.field(&m.BeginTime)
		case "end_time":
			return c.field(&m.EndTime)
		}
		return c.unknown(key, "name", "begin_time", "end_time")
	})
}

// decodeAt decodes the value at the cursor as UnmarshalJSON does, when
// T's elements decode from a cursor and the value is null, an array or an
// array wrapped in an object of one member; anything else (an empty or
// nested wrapper) reports false.
func (l *List[T]) decodeAt(c *cursor) bool {
	if c.null() {
		*l = nil
		return true
	}
	var zero T
	if _, ok := any(&zero).(cursorDecoder); !ok {
		return false
	}
	if c.i < len(c.b) && c.b[c.i] == '{' {
		n := 0
		return c.object(func([]byte) bool {
			n++
			return n == 1 && l.decodeArray(c)
		}) && n == 1
	}
	return l.decodeArray(c)
}

func (l *List[T]) decodeArray(c *cursor) bool {
	items := make([]T, 0, 2)
	if !c.array(func() bool {
		items = append(items, *new(T))
		return any(&items[len(items)-1]).(cursorDecoder).decodeAt(c)
	}) {
		return false
	}
	*l = items
	return true
}

// decodeFast implements fastDecoder.
func (r *AssignWorkerResponse) decodeFast(b []byte) bool {
	if r.RequestID != "" || r.Result != (AssignWorkerResult{}) {
		return false // not the zero value: encoding/json merges
	}
	return decodeWhole(b, r)
}

func (r *AssignWorkerResponse) decodeAt(c *cursor) bool {
	if c.null() {
		return false
	}
	return c.object(func(key []byte) bool {
		switch string(key) {
		case "result":
			return c.object(func(key []byte) bool { return r.Result.decodeMember(c, key) })
		case "request_id":
			return c.stringField(&r.RequestID)
		}
		return c.unknown(key, "result", "request_id")
	})
}

func (r *AssignWorkerResult) decodeMember(c *cursor, key []byte) bool {
	switch string(key) {
	case "display_msg":
		return c.stringField(&r.DisplayMsg)
	case "success":
		return c.field(&r.Success)
	case "msg_code":
		return c.field(&r.MsgCode)
	case "msg_info":
		return c.stringField(&r.MsgInfo)
	}
	return c.unknown(key, "display_msg", "success", "msg_code", "msg_info")
}
