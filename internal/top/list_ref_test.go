package top

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// refListUnmarshal is List's first implementation, kept as the reference
// for FuzzListMatchesReference.
func refListUnmarshal[T any](b []byte) ([]T, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	switch b[0] {
	case '[':
		var items []T
		if err := json.Unmarshal(b, &items); err != nil {
			return nil, err
		}
		return items, nil
	case '{':
		var wrapper map[string]json.RawMessage
		if err := json.Unmarshal(b, &wrapper); err != nil {
			return nil, err
		}
		if len(wrapper) > 1 {
			return nil, fmt.Errorf("list wrapper has %d keys, want 1", len(wrapper))
		}
		for _, inner := range wrapper {
			return refListUnmarshal[T](inner)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("list is neither an array nor a wrapped array")
}

// FuzzListMatchesReference wants List to decode every input as its first
// implementation did: same items, same error.
func FuzzListMatchesReference(f *testing.F) {
	for _, s := range []string{`[]`, `null`, `{}`, `{"worker_manage_rule_d_t_o":[{"name":"black","begin_time":"2024-12-20 17:42:01"}]}`,
		`[{"name":"a"}]`, `{"a":[],"b":[]}`, `{"a":[{"name":1}]}`, `{"a":{"b":[{"name":"x"}]}}`, `{"a\"":[]}`, `{"a":[] , "b":1}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return // List is only ever handed valid JSON by encoding/json
		}
		var got List[WorkerManageRule]
		err := got.UnmarshalJSON(b)
		want, wantErr := refListUnmarshal[WorkerManageRule](b)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("List(%s) error %v, reference %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual([]WorkerManageRule(got), want) {
			t.Fatalf("List(%s) = %+v, reference %+v", b, got, want)
		}
	})
}
