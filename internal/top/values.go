package top

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TOP documents its fields as String, Number, Boolean and Date, but real
// answers (and the API documents' examples) send numbers as strings, booleans as
// strings and dates as strings in UTC+8. The types below decode every
// harmless variant and reject the rest with an error that shows the value.

// Int64 is a TOP Number. It decodes from a JSON number or a string holding a
// whole number ("" and null are 0) and encodes as a JSON number.
type Int64 int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int64) UnmarshalJSON(b []byte) error {
	s, quoted := unquote(b)
	if len(s) == 0 || (!quoted && string(s) == "null") {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	*n = Int64(v)
	return nil
}

// String formats n in decimal, as TOP sends numbers in form parameters.
func (n Int64) String() string { return strconv.FormatInt(int64(n), 10) }

// Bool is a TOP Boolean. It decodes from true/false, the strings "true",
// "false", "1", "0" and "" (false), and from any JSON number (0 is false);
// anything else, such as the API document's "xxx", is an error.
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (v *Bool) UnmarshalJSON(b []byte) error {
	s, quoted := unquote(b)
	switch string(s) {
	case "true", "1":
		*v = true
		return nil
	case "false", "0", "":
		*v = false
		return nil
	case "null":
		if !quoted {
			*v = false
			return nil
		}
	}
	if !quoted {
		if f, err := strconv.ParseFloat(string(s), 64); err == nil {
			*v = f != 0
			return nil
		}
	}
	return fmt.Errorf("%s is not a boolean", b)
}

// String is a TOP String. It also decodes from a JSON number or boolean
// (kept as their text), as TOP sends codes such as msg_code either way.
type String string

// UnmarshalJSON implements json.Unmarshaler.
func (v *String) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		if inner, ok := plainString(b); ok {
			*v = String(inner)
			return nil
		}
		var s string
		if err := unmarshalString(b, &s); err != nil {
			return err
		}
		*v = String(s)
		return nil
	}
	s := bytes.TrimSpace(b)
	switch string(s) {
	case "null":
		*v = ""
		return nil
	case "true", "false":
		*v = String(s)
		return nil
	}
	if _, err := strconv.ParseFloat(string(s), 64); err != nil {
		return fmt.Errorf("%s is not a string", truncate(b))
	}
	*v = String(s)
	return nil
}

// plainString returns the contents of the JSON string b when they need no
// decoding (no escapes, no control characters, valid UTF-8), which is
// what decoding would return; it reports false otherwise.
func plainString(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c < 0x20 || c == '"' || c == '\\' {
			return nil, false
		}
	}
	if !utf8.Valid(inner) {
		return nil, false
	}
	return inner, true
}

// unescapeString returns the contents of the JSON string b with its
// escapes decoded, when they are only the one-character escapes (\", \\,
// \/, \b, \f, \n, \r, \t) and the rest needs no decoding (no control
// characters, valid UTF-8): what decoding would return. It reports false
// otherwise (\u escapes among them), leaving the string to encoding/json.
// ability_map, a JSON text inside a JSON string, is such a string.
func unescapeString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	if !utf8.Valid(inner) {
		return "", false
	}
	var out strings.Builder
	out.Grow(len(inner))
	for {
		i := bytes.IndexByte(inner, '\\')
		if i < 0 {
			i = len(inner)
		}
		for _, c := range inner[:i] {
			if c < 0x20 || c == '"' {
				return "", false
			}
		}
		out.Write(inner[:i])
		if i == len(inner) {
			return out.String(), true
		}
		if i+1 == len(inner) {
			return "", false
		}
		switch c := inner[i+1]; c {
		case '"', '\\', '/':
			out.WriteByte(c)
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		default:
			return "", false
		}
		inner = inner[i+2:]
	}
}

// Time is a TOP Date: "yyyy-MM-dd HH:mm:ss" in UTC+8 on the wire. It also
// decodes from epoch milliseconds (a number or numeric string); "" and null
// are the zero time. Use the `omitzero` JSON option to leave zero times out.
type Time struct{ time.Time }

// MarshalText implements encoding.TextMarshaler (used by JSON and XML).
func (t Time) MarshalText() ([]byte, error) {
	if t.IsZero() {
		return []byte{}, nil
	}
	return AppendTime(nil, t.Time), nil
}

// MarshalJSON implements json.Marshaler; it overrides the embedded
// time.Time's RFC 3339 form.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`""`), nil
	}
	b := append(make([]byte, 0, len(TimeLayout)+2), '"')
	b = AppendTime(b, t.Time)
	return append(b, '"'), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Time) UnmarshalText(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		t.Time = time.Time{}
		return nil
	}
	if isInteger(b) {
		if ms, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			t.Time = time.UnixMilli(ms).In(beijing)
			return nil
		}
	}
	if parsed, ok := parseLayout(b); ok {
		t.Time = parsed
		return nil
	}
	parsed, err := time.ParseInLocation(TimeLayout, string(b), beijing)
	if err != nil {
		_, err = ParseTime(string(b)) // for its message
		return err
	}
	t.Time = parsed
	return nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	s, quoted := unquote(b)
	if !quoted && string(s) == "null" {
		t.Time = time.Time{}
		return nil
	}
	return t.UnmarshalText(s)
}

// isInteger reports whether b is an optional sign and decimal digits, the
// only texts strconv.ParseInt(b, 10, 64) may accept.
func isInteger(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// unquote returns the JSON value b as text: a string's contents (escapes
// decoded, surrounding spaces trimmed) and true, or the raw token and false.
func unquote(b []byte) ([]byte, bool) {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		if bytes.IndexByte(b[1:len(b)-1], '\\') < 0 {
			return bytes.TrimSpace(b[1 : len(b)-1]), true
		}
		var s string
		if err := unmarshalString(b, &s); err == nil {
			return []byte(s), true
		}
	}
	return b, false
}

func truncate(b []byte) []byte {
	const max = 64
	if len(b) > max {
		return append(b[:max:max], "..."...)
	}
	return b
}
