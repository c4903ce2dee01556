package top

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// List is a list field of a TOP response. TOP's normal JSON wraps lists one
// level deep ({"home_worker_tags":{"worker_manage_rule_d_t_o":[...]}}),
// simplified JSON does not ({"home_worker_tags":[...]}); List decodes both
// and encodes the simplified form.
type List[T any] []T

// UnmarshalJSON implements json.Unmarshaler.
func (l *List[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*l = nil
		return nil
	}
	switch b[0] {
	case '[':
		var items []T
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		*l = items
		return nil
	case '{':
		if inner, ok := wrappedArray(b); ok {
			var items []T
			if err := json.Unmarshal(inner, &items); err == nil {
				*l = items
				return nil
			}
		}
		var wrapper map[string]json.RawMessage
		if err := json.Unmarshal(b, &wrapper); err != nil {
			return err
		}
		if len(wrapper) > 1 {
			return fmt.Errorf("list wrapper has %d keys, want 1", len(wrapper))
		}
		for _, inner := range wrapper {
			return l.UnmarshalJSON(inner)
		}
		*l = nil
		return nil
	}
	return fmt.Errorf("list is neither an array nor a wrapped array")
}

// wrappedArray returns the array of a wrapper object {"item": [...]} whose
// key has no escapes; the array runs to the object's closing brace and
// still needs decoding. Anything else reports false and takes the general
// path.
func wrappedArray(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, false
	}
	i := skipSpace(b, 1)
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(b[i+1:], '"')
	if end < 0 || bytes.IndexByte(b[i+1:i+1+end], '\\') >= 0 {
		return nil, false
	}
	j := skipSpace(b, i+2+end)
	if j >= len(b) || b[j] != ':' {
		return nil, false
	}
	inner := bytes.TrimSpace(b[j+1 : len(b)-1])
	if len(inner) < 2 || inner[0] != '[' || inner[len(inner)-1] != ']' {
		return nil, false
	}
	return inner, true
}
