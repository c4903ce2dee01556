// Package answerjson encodes the REST gateway's answers of the TOP
// calls (GetWorkerTags, AssignWorker, BindVirtualPhone, UpdateWorker,
// SyncUserBlacklist) as JSON without reflection: the output is exactly
// protojson's with the gateway's options (UseProtoNames and
// EmitDefaultValues), in its compact form (protojson adds a space after
// a comma at random in some builds, which JSON ignores).
//
// It covers only those messages and only what it is sure of: Append
// reports false for any other message, and for a covered one holding
// something protojson would refuse or that this package does not write
// (invalid UTF-8 in a string, a Timestamp out of range, a
// google.protobuf.Struct), so that the caller falls back to protojson.
// A differential test and a fuzz target hold it to protojson.
package answerjson

import (
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// Options returns the protojson options whose output Append writes:
// proto field names, every field listed (unset messages left out),
// compact.
func Options() protojson.MarshalOptions {
	return protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}
}

// Append appends m's JSON to dst. It reports false, and dst unchanged,
// when m is not a message it covers or holds something it leaves to
// protojson.
func Append(dst []byte, m any) ([]byte, bool) {
	e := encoder{b: dst, ok: true}
	switch m := m.(type) {
	case *scv1.GetWorkerTagsResponse:
		e.getWorkerTagsResponse(m)
	case *scv1.AssignWorkerResponse:
		e.assignWorkerResponse(m)
	case *scv1.BindVirtualPhoneResponse:
		e.bindVirtualPhoneResponse(m)
	case *scv1.UpdateWorkerResponse:
		e.updateWorkerResponse(m)
	case *scv1.SyncUserBlacklistResponse:
		e.syncUserBlacklistResponse(m)
	default:
		return dst, false
	}
	if !e.ok {
		return dst, false
	}
	return e.b, true
}

// Covers reports whether Append encodes messages of m's type (it may
// still leave a particular message to protojson).
func Covers(m any) bool {
	switch m.(type) {
	case *scv1.GetWorkerTagsResponse, *scv1.AssignWorkerResponse, *scv1.BindVirtualPhoneResponse,
		*scv1.UpdateWorkerResponse, *scv1.SyncUserBlacklistResponse:
		return true
	}
	return false
}

// encoder appends JSON to b; ok turns false on anything left to
// protojson.
type encoder struct {
	b  []byte
	ok bool
}

// name writes a member's name (a literal `"name":`), after a comma
// unless it is the object's first member.
func (e *encoder) name(n string) {
	if e.b[len(e.b)-1] != '{' {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, n...)
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, "true"...)
	} else {
		e.b = append(e.b, "false"...)
	}
}

// int64 is a JSON string, as protojson writes 64-bit integers.
func (e *encoder) int64(v int64) {
	e.b = append(e.b, '"')
	e.b = strconv.AppendInt(e.b, v, 10)
	e.b = append(e.b, '"')
}

// string writes s quoted and escaped as protojson does: '"', '\\' and
// control characters only (HTML characters and U+2028/2029 stay as
// they are); invalid UTF-8 is left to protojson (which refuses it).
func (e *encoder) string(s string) {
	e.b = append(e.b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				e.ok = false
				return
			}
			i += n
			continue
		}
		if c >= ' ' && c != '"' && c != '\\' {
			i++
			continue
		}
		e.b = append(e.b, s[start:i]...)
		e.b = append(e.b, '\\')
		switch c {
		case '"', '\\':
			e.b = append(e.b, c)
		case '\b':
			e.b = append(e.b, 'b')
		case '\f':
			e.b = append(e.b, 'f')
		case '\n':
			e.b = append(e.b, 'n')
		case '\r':
			e.b = append(e.b, 'r')
		case '\t':
			e.b = append(e.b, 't')
		default:
			e.b = append(e.b, 'u')
			e.b = append(e.b, "0000"[1+(bits.Len32(uint32(c))-1)/4:]...)
			e.b = strconv.AppendUint(e.b, uint64(c), 16)
		}
		i++
		start = i
	}
	e.b = append(e.b, s[start:]...)
	e.b = append(e.b, '"')
}

// Timestamps' range, as protojson checks it: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// timestamp writes t in RFC 3339, UTC, with 0, 3, 6 or 9 fractional
// digits, as protojson does; out of range is left to protojson.
func (e *encoder) timestamp(t *timestamppb.Timestamp) {
	secs, nanos := t.GetSeconds(), t.GetNanos()
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos > 999999999 {
		e.ok = false
		return
	}
	e.b = append(e.b, '"')
	e.b = time.Unix(secs, 0).UTC().AppendFormat(e.b, "2006-01-02T15:04:05")
	if nanos != 0 {
		var frac [10]byte
		f := strconv.AppendInt(frac[:0], int64(nanos)+1e9, 10) // "1" and nine digits
		f[0] = '.'
		switch {
		case nanos%1e6 == 0:
			f = f[:4]
		case nanos%1e3 == 0:
			f = f[:7]
		}
		e.b = append(e.b, f...)
	}
	e.b = append(e.b, 'Z', '"')
}

func (e *encoder) getWorkerTagsResponse(m *scv1.GetWorkerTagsResponse) {
	e.b = append(e.b, '{')
	if m.GetResultData() != nil {
		e.name(`"result_data":`)
		e.workerTag(m.GetResultData())
	}
	e.name(`"success":`)
	e.bool(m.GetSuccess())
	e.name(`"msg_code":`)
	e.string(m.GetMsgCode())
	e.name(`"msg_info":`)
	e.string(m.GetMsgInfo())
	e.name(`"top_request_id":`)
	e.string(m.GetTopRequestId())
	e.b = append(e.b, '}')
}

func (e *encoder) workerTag(m *scv1.WorkerTag) {
	e.b = append(e.b, '{')
	e.name(`"black_list":`)
	e.bool(m.GetBlackList())
	e.name(`"degradation":`)
	e.bool(m.GetDegradation())
	e.name(`"ability_map":`)
	e.abilityMap(m.GetAbilityMap())
	e.name(`"raw_ability_map":`)
	e.string(m.GetRawAbilityMap())
	e.name(`"vip":`)
	e.bool(m.GetVip())
	e.name(`"big_promotion":`)
	e.bool(m.GetBigPromotion())
	e.name(`"home_worker_tags":`)
	e.b = append(e.b, '[')
	for i, r := range m.GetHomeWorkerTags() {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.workerManageRule(r)
	}
	e.b = append(e.b, ']', '}')
}

// abilityMap writes the map's entries in the order of their keys, as
// protojson does.
func (e *encoder) abilityMap(m map[string]*scv1.Ability) {
	e.b = append(e.b, '{')
	switch len(m) {
	case 0:
	case 1:
		for k, v := range m {
			e.abilityEntry(k, v)
		}
	default:
		var buf [8]string
		keys := buf[:0]
		for k := range m {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			if e.b[len(e.b)-1] != '{' {
				e.b = append(e.b, ',')
			}
			e.abilityEntry(k, m[k])
		}
	}
	e.b = append(e.b, '}')
}

func (e *encoder) abilityEntry(k string, v *scv1.Ability) {
	e.string(k)
	e.b = append(e.b, ':')
	e.ability(v)
}

// sortStrings sorts a few strings in place (insertion sort: maps here
// hold a handful of entries, and sort.Strings would allocate).
func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (e *encoder) ability(m *scv1.Ability) {
	if m.GetExtra() != nil {
		e.ok = false // google.protobuf.Struct: protojson's
		return
	}
	e.b = append(e.b, '{')
	e.name(`"effective":`)
	e.bool(m.GetEffective())
	e.name(`"service_code":`)
	e.string(m.GetServiceCode())
	e.name(`"ability_level":`)
	if n, ok := scv1.AbilityLevel_name[int32(m.GetAbilityLevel())]; ok {
		e.b = append(e.b, '"')
		e.b = append(e.b, n...)
		e.b = append(e.b, '"')
	} else {
		e.b = strconv.AppendInt(e.b, int64(m.GetAbilityLevel()), 10)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) workerManageRule(m *scv1.WorkerManageRule) {
	e.b = append(e.b, '{')
	e.name(`"name":`)
	e.string(m.GetName())
	if m.GetBeginTime() != nil {
		e.name(`"begin_time":`)
		e.timestamp(m.GetBeginTime())
	}
	if m.GetEndTime() != nil {
		e.name(`"end_time":`)
		e.timestamp(m.GetEndTime())
	}
	e.b = append(e.b, '}')
}

func (e *encoder) assignWorkerResponse(m *scv1.AssignWorkerResponse) {
	e.b = append(e.b, '{')
	e.name(`"success":`)
	e.bool(m.GetSuccess())
	e.name(`"msg_code":`)
	e.string(m.GetMsgCode())
	e.name(`"msg_info":`)
	e.string(m.GetMsgInfo())
	e.name(`"display_msg":`)
	e.string(m.GetDisplayMsg())
	e.name(`"top_request_id":`)
	e.string(m.GetTopRequestId())
	e.b = append(e.b, '}')
}

func (e *encoder) bindVirtualPhoneResponse(m *scv1.BindVirtualPhoneResponse) {
	e.b = append(e.b, '{')
	e.name(`"result_data":`)
	e.string(m.GetResultData())
	e.name(`"success":`)
	e.bool(m.GetSuccess())
	e.name(`"msg_code":`)
	e.string(m.GetMsgCode())
	e.name(`"msg_info":`)
	e.string(m.GetMsgInfo())
	e.name(`"top_request_id":`)
	e.string(m.GetTopRequestId())
	e.b = append(e.b, '}')
}

func (e *encoder) updateWorkerResponse(m *scv1.UpdateWorkerResponse) {
	e.b = append(e.b, '{')
	e.name(`"success":`)
	e.bool(m.GetSuccess())
	e.name(`"value":`)
	e.bool(m.GetValue())
	e.name(`"error_code":`)
	e.int64(m.GetErrorCode())
	e.name(`"error_msg":`)
	e.string(m.GetErrorMsg())
	if m.GetGmtCreate() != nil {
		e.name(`"gmt_create":`)
		e.timestamp(m.GetGmtCreate())
	}
	if m.GetGmtModified() != nil {
		e.name(`"gmt_modified":`)
		e.timestamp(m.GetGmtModified())
	}
	e.name(`"top_request_id":`)
	e.string(m.GetTopRequestId())
	e.b = append(e.b, '}')
}

func (e *encoder) syncUserBlacklistResponse(m *scv1.SyncUserBlacklistResponse) {
	e.b = append(e.b, '{')
	e.name(`"request_id":`)
	e.string(m.GetRequestId())
	e.name(`"success":`)
	e.bool(m.GetSuccess())
	e.name(`"code":`)
	e.string(m.GetCode())
	e.name(`"message":`)
	e.string(m.GetMessage())
	e.name(`"is_retry":`)
	e.bool(m.GetIsRetry())
	e.name(`"top_request_id":`)
	e.string(m.GetTopRequestId())
	e.b = append(e.b, '}')
}
