package topapi

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
