package service

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// toTOPTime converts a Timestamp to TOP's UTC+8 date; nil is the zero
// time, which is not sent.
func toTOPTime(ts *timestamppb.Timestamp) top.Time {
	if ts == nil {
		return top.Time{}
	}
	return top.Time{Time: ts.AsTime()}
}

// fromTOPTime converts TOP's date to a Timestamp; the zero time is nil.
func fromTOPTime(t top.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t.Time)
}

// rawToStruct turns raw JSON members into a Struct; nil when there are none.
func rawToStruct(raw map[string]json.RawMessage) (*structpb.Struct, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	m := make(map[string]any, len(raw))
	for k, v := range raw {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		m[k] = x
	}
	return structpb.NewStruct(m)
}

// unixMillis is TOP's request_time: epoch milliseconds.
func unixMillis(ts *timestamppb.Timestamp, now func() time.Time) int64 {
	if ts == nil {
		return now().UnixMilli()
	}
	return ts.AsTime().UnixMilli()
}
