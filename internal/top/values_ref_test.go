package top

// This file keeps the first implementation of the tolerant value types'
// decoders as a reference: FuzzValuesMatchReference checks that the
// allocation-free rewrite decodes every input exactly as they did.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"
)

func refInt64(b []byte) (int64, error) {
	s, quoted := refUnquote(b)
	if s == "" || (!quoted && s == "null") {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a whole number", b)
	}
	return v, nil
}

func refBool(b []byte) (bool, error) {
	s, quoted := refUnquote(b)
	switch s {
	case "true", "1":
		return true, nil
	case "false", "0", "":
		return false, nil
	case "null":
		if !quoted {
			return false, nil
		}
	}
	if !quoted {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f != 0, nil
		}
	}
	return false, fmt.Errorf("%s is not a boolean", b)
}

func refString(b []byte) (string, error) {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return "", nil
	}
	if s == "true" || s == "false" {
		return s, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "", fmt.Errorf("%s is not a string", truncate(b))
	}
	return s, nil
}

func refTimeText(b []byte) (time.Time, error) {
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).In(beijing), nil
	}
	return ParseTime(s)
}

func refTime(b []byte) (time.Time, error) {
	s, quoted := refUnquote(b)
	if !quoted && s == "null" {
		return time.Time{}, nil
	}
	return refTimeText([]byte(s))
}

func refUnquote(b []byte) (string, bool) {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		if bytes.IndexByte(b[1:len(b)-1], '\\') < 0 {
			return string(bytes.TrimSpace(b[1 : len(b)-1])), true
		}
		var s string
		if err := json.Unmarshal(b, &s); err == nil {
			return s, true
		}
	}
	return string(b), false
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzValuesMatchReference feeds the same bytes to each value type's
// decoder and to its reference, and wants the same value and error.
func FuzzValuesMatchReference(f *testing.F) {
	for _, s := range []string{`"true"`, `true`, `1`, `"0"`, `""`, `null`, `"null"`, `" 12 "`, `"+5"`, `-7`, `1e3`, `"xxx"`,
		`"2016-06-28 10:30:00"`, `"2016-02-30 10:30:00"`, `1656674541001`, `"1656674541001"`, `"a\"b"`, `"\u00e9"`,
		"\"\xff\"", "\"a\tb\"", `"é"`, `{"a":1}`, `[1]`, `" true "`, `"\ttrue"`, `"99999999999999999999"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var n Int64
		nErr := n.UnmarshalJSON(b)
		rn, rnErr := refInt64(b)
		if int64(n) != rn && nErr == nil || errText(nErr) != errText(rnErr) {
			t.Fatalf("Int64(%q) = %d, %v; reference %d, %v", b, n, nErr, rn, rnErr)
		}
		var v Bool
		vErr := v.UnmarshalJSON(b)
		rv, rvErr := refBool(b)
		if bool(v) != rv && vErr == nil || errText(vErr) != errText(rvErr) {
			t.Fatalf("Bool(%q) = %v, %v; reference %v, %v", b, v, vErr, rv, rvErr)
		}
		var s String
		sErr := s.UnmarshalJSON(b)
		rs, rsErr := refString(b)
		if string(s) != rs && sErr == nil || errText(sErr) != errText(rsErr) {
			t.Fatalf("String(%q) = %q, %v; reference %q, %v", b, s, sErr, rs, rsErr)
		}
		var tm Time
		tErr := tm.UnmarshalJSON(b)
		rt, rtErr := refTime(b)
		if !tm.Time.Equal(rt) && tErr == nil || errText(tErr) != errText(rtErr) {
			t.Fatalf("Time(%q) = %v, %v; reference %v, %v", b, tm.Time, tErr, rt, rtErr)
		}
		var tt Time
		ttErr := tt.UnmarshalText(b)
		rtt, rttErr := refTimeText(b)
		if !tt.Time.Equal(rtt) && ttErr == nil || errText(ttErr) != errText(rttErr) {
			t.Fatalf("Time.UnmarshalText(%q) = %v, %v; reference %v, %v", b, tt.Time, ttErr, rtt, rttErr)
		}
	})
}

// TestValueDecodersDoNotAllocate checks the common inputs decode without
// allocating (String's result is the one allocation it needs).
func TestValueDecodersDoNotAllocate(t *testing.T) {
	var n Int64
	var v Bool
	var s String
	var tm Time
	num, yes, no := []byte(`"1008"`), []byte(`true`), []byte(`"false"`)
	text, date, epoch := []byte(`"工单不存在"`), []byte(`"2024-12-20 17:42:01"`), []byte(`1656674541001`)
	tests := []struct {
		name string
		max  float64
		f    func()
	}{
		{"Int64", 0, func() { _ = n.UnmarshalJSON(num) }},
		{"Bool", 0, func() { _ = v.UnmarshalJSON(yes) }},
		{"quoted Bool", 0, func() { _ = v.UnmarshalJSON(no) }},
		{"String", 1, func() { _ = s.UnmarshalJSON(text) }},
		{"Time", 0, func() { _ = tm.UnmarshalJSON(date) }},
		{"epoch Time", 0, func() { _ = tm.UnmarshalJSON(epoch) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, got, tt.max)
		}
	}
}
