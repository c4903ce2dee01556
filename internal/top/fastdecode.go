package top

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// One-pass decoding of the answers on the hot path (taglist.get and
// assignworker), without encoding/json's reflection. It is ours rather
// than a library's (valyala/fastjson, goccy/go-json, segmentio/encoding):
// it handles two small, fixed shapes, and it must give exactly
// encoding/json's result or give up, so that encoding/json stays the one
// decoder that words every error. A general decoder would be a second
// implementation of JSON to trust with that equivalence; this one is a
// cursor over the text that checks it is valid JSON as it goes and refuses
// anything unusual: an escaped or non-UTF-8 key, a key that matches a
// field only case-insensitively (encoding/json would decode it), a value
// of the wrong kind, a value whose UnmarshalJSON fails. FuzzDecodeFast
// holds it to encoding/json, FuzzSkipValue its check to json.Valid.

// fastDecoder is a response that can decode the value of its success
// envelope in one pass. decodeFast is handed the zero value as its
// receiver; it reports false, leaving the receiver as it was, when
// encoding/json must decode instead (b is not valid JSON, or anything
// unusual).
type fastDecoder interface {
	decodeFast(b []byte) bool
}

// cursor reads a JSON text from b[i] on, once: each value is either
// decoded where it stands or skipped, and everything it consumes is
// checked to be valid JSON on the way (no json.Valid pass before it).
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

// value consumes the value at the cursor and returns its exact bytes; it
// reports false when the value is not valid JSON.
func (c *cursor) value() ([]byte, bool) {
	start := c.i
	end, ok := skipValue(c.b, c.i, 0)
	c.i = end
	return c.b[start:end], ok
}

// maxDepth bounds the nesting skipValue follows; deeper values report
// false (encoding/json's own bound is 10,000).
const maxDepth = 64

// skipValue returns the end of the JSON value at b[i], nested depth
// levels deep, and reports false when there is none there or it is not
// valid JSON as json.Valid judges it (strings may hold bytes that are not
// UTF-8; control characters, bad escapes, bad numbers and literals, and
// misplaced commas and colons are refused).
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return i, false
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1, true
		}
		for {
			var ok bool
			if closing == '}' {
				if i >= len(b) || b[i] != '"' {
					return i, false
				}
				if i, ok = skipString(b, i); !ok {
					return i, false
				}
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return i, false
				}
				i = skipSpace(b, i+1)
			}
			if i, ok = skipValue(b, i, depth+1); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == closing {
				return i + 1, true
			}
			if i >= len(b) || b[i] != ',' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	}
	return i, false
}

// skipString returns the end of the JSON string at b[i] (its opening
// quote) and whether it is valid.
func skipString(b []byte, i int) (int, bool) {
	end, _, ok := scanString(b, i)
	return end, ok
}

// scanString is skipString that also reports whether the string is plain:
// printable ASCII without escapes, so that its contents are its value.
func scanString(b []byte, i int) (end int, plain, ok bool) {
	plain = true
	for i++; i < len(b); i++ {
		c := b[i]
		if c >= 0x20 && c < 0x80 && c != '"' && c != '\\' {
			continue
		}
		switch {
		case c == '"':
			return i + 1, plain, true
		case c < 0x20:
			return i, false, false
		case c >= 0x80:
			plain = false
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				return i, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return i, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return i, false, false
					}
				}
				i += 4
			default:
				return i, false, false
			}
		}
	}
	return i, false, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipLiteral returns the end of lit at b[i] and whether it is there.
func skipLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// skipNumber returns the end of the JSON number at b[i] and whether it is
// one: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(b []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i, i > start
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if j, ok := digits(i); ok {
		i = j
	} else {
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j, ok := digits(i + 1)
		if !ok {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j, ok := digits(i)
		if !ok {
			return j, false
		}
		i = j
	}
	return i, true
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
		end, plain, ok := scanString(b, c.i)
		if !ok {
			return false
		}
		key := b[c.i+1 : end-1]
		if !plain && (bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key)) {
			return false
		}
		c.i = skipSpace(b, end)
		if c.i >= len(b) || b[c.i] != ':' {
			return false
		}
		c.i = skipSpace(b, c.i+1)
		if !member(key) {
			return false
		}
		if done, ok := c.next('}'); done || !ok {
			return ok
		}
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
		if done, ok := c.next(']'); done || !ok {
			return ok
		}
	}
	return false
}

// next consumes what follows a member or an element: the closing byte
// (done) or a comma and the space after it. ok is false on anything else.
func (c *cursor) next(closing byte) (done, ok bool) {
	b := c.b
	c.i = skipSpace(b, c.i)
	if c.i < len(b) && b[c.i] == closing {
		c.i++
		return true, true
	}
	if c.i >= len(b) || b[c.i] != ',' {
		return false, false
	}
	c.i = skipSpace(b, c.i+1)
	return false, true
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
	start := c.i
	end, plain, ok := scanString(c.b, c.i)
	c.i = end
	if !ok {
		return false
	}
	v := c.b[start:end]
	if plain {
		*dst = string(v[1 : len(v)-1])
		return true
	}
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
func (c *cursor) field(u unmarshaler) bool {
	v, ok := c.value()
	return ok && u.UnmarshalJSON(v) == nil
}

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
	_, ok := c.value()
	return ok
}

// cursorDecoder is a type that decodes itself from the cursor in place, as
// encoding/json decodes into an existing value (merging).
type cursorDecoder interface {
	decodeAt(c *cursor) bool
}

// decodeWhole decodes the JSON text b into v, the zero value of its
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
