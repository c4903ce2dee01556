package syncjob

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// TestClassify walks the kinds of TOP answer a chunk can get and checks
// what the bulk sync does with each (top's taxonomy: RepeatNever fails the
// chunk, a ban waits, the rest is resent) and what its job error says.
func TestClassify(t *testing.T) {
	ok := &top.BlacklistSyncResponse{RequestID: "rid-ok", UserBlacklistResponse: top.UserBlacklistResponse{Success: true, Code: "200"}}
	biz := func(code string, retry bool) *top.BlacklistSyncResponse {
		return &top.BlacklistSyncResponse{RequestID: "rid-biz", UserBlacklistResponse: top.UserBlacklistResponse{
			Code: top.String(code), Message: "PARAM_ERROR: blacklist[0].mobile 13912345678", IsRetry: top.Bool(retry)}}
	}
	api := func(code int, sub string) error {
		return &topclient.APIError{Method: top.MethodBlacklistSync, Attempts: 3, HTTPStatus: 200, Resp: top.ErrorResponse{
			Code: code, Msg: top.Message(code), SubCode: sub, SubMsg: "mobile 13912345678", RequestID: "rid-api"}}
	}
	ban := &topclient.BanError{Method: top.MethodBlacklistSync, RetryAfter: 7 * time.Second,
		Resp: &top.ErrorResponse{Code: 7, Msg: "App Call Limited", SubCode: top.SubCodeAppAccessCount, RequestID: "rid-ban"}}
	transport := &topclient.TransportError{Method: top.MethodBlacklistSync, StatusCode: 503, Attempts: 3}
	decode := &topclient.DecodeError{Method: top.MethodBlacklistSync, Err: errors.New("success: xxx")}
	masked := "139****5678"
	tests := []struct {
		name string
		resp *top.BlacklistSyncResponse
		err  error
		kind outcomeKind
		want store.JobError
		wait time.Duration
	}{
		{"acknowledged", ok, nil, outcomeAcknowledged, store.JobError{TOPRequestID: "rid-ok"}, 0},
		{"refused: 400", biz("400", false), nil, outcomeFailed,
			store.JobError{Code: "400", Message: "PARAM_ERROR: blacklist[0].mobile " + masked, TOPRequestID: "rid-biz"}, 0},
		{"refused: 409", biz("409", false), nil, outcomeFailed,
			store.JobError{Code: "409", Message: "PARAM_ERROR: blacklist[0].mobile " + masked, TOPRequestID: "rid-biz"}, 0},
		{"is_retry", biz("500", true), nil, outcomeRetry,
			store.JobError{Code: "500", Message: "PARAM_ERROR: blacklist[0].mobile " + masked, TOPRequestID: "rid-biz"}, 0},
		{"isv", nil, api(15, "isv.invalid-parameter"), outcomeFailed,
			store.JobError{Code: "15", SubCode: "isv.invalid-parameter", Message: "Remote service error: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"41", nil, api(41, ""), outcomeFailed,
			store.JobError{Code: "41", Message: "Invalid Arguments: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"40", nil, api(40, ""), outcomeFailed,
			store.JobError{Code: "40", Message: "Missing Required Arguments: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"43", nil, api(43, ""), outcomeFailed,
			store.JobError{Code: "43", Message: "Parameter Error: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		// The deliberate change: the sub-code wins, as everywhere else.
		{"41 with isp", nil, api(41, "isp.top-remote-service-unavailable"), outcomeRetry,
			store.JobError{Code: "41", SubCode: "isp.top-remote-service-unavailable", Message: "Invalid Arguments: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"10 with isv", nil, api(10, "isv.invalid-parameter"), outcomeRetry,
			store.JobError{Code: "10", SubCode: "isv.invalid-parameter", Message: "Service Currently Unavailable: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"isp", nil, api(15, "isp.top-remote-connection-timeout"), outcomeRetry,
			store.JobError{Code: "15", SubCode: "isp.top-remote-connection-timeout", Message: "Remote service error: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"10", nil, api(10, ""), outcomeRetry,
			store.JobError{Code: "10", Message: "Service Currently Unavailable: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"quota without ban", nil, api(7, top.SubCodeAppAccessCount), outcomeRetry,
			store.JobError{Code: "7", SubCode: top.SubCodeAppAccessCount, Message: "App Call Limited: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"session", nil, api(27, ""), outcomeRetry,
			store.JobError{Code: "27", Message: "Invalid Session: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"permission", nil, api(11, ""), outcomeRetry,
			store.JobError{Code: "11", Message: "Insufficient ISV Permissions: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"unknown code", nil, api(999, ""), outcomeRetry,
			store.JobError{Code: "999", Message: "mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"ban", nil, ban, outcomeBanned,
			store.JobError{Code: "7", SubCode: top.SubCodeAppAccessCount, Message: ban.Error(), TOPRequestID: "rid-ban"}, 7 * time.Second},
		{"ban without answer", nil, &topclient.BanError{Method: top.MethodBlacklistSync, RetryAfter: time.Second}, outcomeBanned,
			store.JobError{Message: "top taobao.logistics.express.user.blacklist.tms.sync: quota ban (app) for 1s more"}, time.Second},
		{"transport", nil, transport, outcomeRetry, store.JobError{Message: transport.Error()}, 0},
		{"decode", nil, decode, outcomeRetry, store.JobError{Message: decode.Error()}, 0},
		{"not TOP's", nil, fmt.Errorf("store: mobile 13912345678"), outcomeRetry, store.JobError{Message: "store: mobile " + masked}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.resp, tt.err)
			if got.kind != tt.kind || got.err != tt.want || got.wait != tt.wait {
				t.Fatalf("classify = kind %d wait %v err %+v\nwant kind %d wait %v err %+v", got.kind, got.wait, got.err, tt.kind, tt.wait, tt.want)
			}
		})
	}
}

// TestChunkFateFollowsTheTaxonomy sends a one-chunk job through the real
// client and emulator while TOP answers a platform error more often than
// the client retries within one call, and checks the job's end: refused
// content fails the chunk, everything else is resent until it arrives
// once. Codes 40/41/43 with an isp.* sub-code (failed for good before top
// owned the taxonomy) are resent, as the sub-code says.
func TestChunkFateFollowsTheTaxonomy(t *testing.T) {
	tests := []struct {
		code int
		sub  string
		want store.State
	}{
		{41, "isp.top-remote-service-unavailable", store.StateSucceeded},
		{40, "isp.top-remote-connection-timeout", store.StateSucceeded},
		{43, "isp.top-remote-unknown-error", store.StateSucceeded},
		{10, "isv.invalid-parameter", store.StateSucceeded},
		{15, "isp.top-remote-service-unavailable", store.StateSucceeded},
		{41, "", store.StateFailed},
		{15, "isv.invalid-parameter", store.StateFailed},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code)+"/"+tt.sub, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ChunksInFlight = 1 })
			// The client sends a call up to 3 times: 4 failures make the
			// sync itself decide at least once.
			e.faults(`{"rules": [{"method": "` + top.MethodBlacklistSync + `", "count": 4,
				"error": {"code": ` + strconv.Itoa(tt.code) + `, "sub_code": "` + tt.sub + `"}}]}`)
			res := e.importEntries(1, inputs(0, 10)...)
			e.run()
			j := e.waitState(res.Job.ID, tt.want)
			le := j.LastError
			switch tt.want {
			case store.StateSucceeded:
				if j.Acknowledged != 10 || j.Failed != 0 {
					t.Fatalf("job %+v", j)
				}
				e.checkExactlyOnce(10)
				if !e.sawRetrying(strconv.Itoa(tt.code), tt.sub) {
					t.Fatalf("no EventChunkRetrying with code %d %s", tt.code, tt.sub)
				}
			default:
				if j.Failed != 10 || le == nil || !le.Final || le.Code != strconv.Itoa(tt.code) || le.SubCode != tt.sub {
					t.Fatalf("job %+v, last error %+v", j, le)
				}
			}
		})
	}
}

// sawRetrying reports whether a chunk was resent after TOP's code and sub_code.
func (e *env) sawRetrying(code, sub string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.events {
		if ev.Kind == EventChunkRetrying && ev.Error != nil && ev.Error.Code == code && ev.Error.SubCode == sub {
			return true
		}
	}
	return false
}

// TestResendBackoffKeepsAFloor: a chunk's resend waits a random time in
// [d/2, d], d = min(RetryMax, RetryBase·2^attempt) (equal jitter).
func TestResendBackoffKeepsAFloor(t *testing.T) {
	m := &Manager{cfg: Config{RetryBase: 100 * time.Millisecond, RetryMax: time.Second}}
	for attempt, d := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, time.Second, time.Second} {
		for range 200 {
			if got := m.backoff(attempt); got < d/2 || got > d {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, got, d/2, d)
			}
		}
	}
}
