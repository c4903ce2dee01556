package syncjob

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// TestClassify walks the kinds of TOP answer a chunk can get and checks
// what the bulk sync does with each (top's taxonomy: RepeatNever fails the
// chunk, a ban waits, the rest is resent) and what its job error says.
func TestClassify(t *testing.T) {
	t.Parallel()
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
		want JobError
		wait time.Duration
	}{
		{"acknowledged", ok, nil, outcomeAcknowledged, JobError{TOPRequestID: "rid-ok"}, 0},
		{"refused: 400", biz("400", false), nil, outcomeFailed,
			JobError{Code: "400", Message: "PARAM_ERROR: blacklist[0].mobile " + masked, TOPRequestID: "rid-biz"}, 0},
		{"refused: 409", biz("409", false), nil, outcomeFailed,
			JobError{Code: "409", Message: "PARAM_ERROR: blacklist[0].mobile " + masked, TOPRequestID: "rid-biz"}, 0},
		{"is_retry", biz("500", true), nil, outcomeRetry,
			JobError{Code: "500", Message: "PARAM_ERROR: blacklist[0].mobile " + masked, TOPRequestID: "rid-biz"}, 0},
		{"isv", nil, api(15, "isv.invalid-parameter"), outcomeFailed,
			JobError{Code: "15", SubCode: "isv.invalid-parameter", Message: "Remote service error: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"41", nil, api(41, ""), outcomeFailed,
			JobError{Code: "41", Message: "Invalid Arguments: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"40", nil, api(40, ""), outcomeFailed,
			JobError{Code: "40", Message: "Missing Required Arguments: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"43", nil, api(43, ""), outcomeFailed,
			JobError{Code: "43", Message: "Parameter Error: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		// The deliberate change: the sub-code wins, as everywhere else.
		{"41 with isp", nil, api(41, "isp.top-remote-service-unavailable"), outcomeRetry,
			JobError{Code: "41", SubCode: "isp.top-remote-service-unavailable", Message: "Invalid Arguments: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"10 with isv", nil, api(10, "isv.invalid-parameter"), outcomeRetry,
			JobError{Code: "10", SubCode: "isv.invalid-parameter", Message: "Service Currently Unavailable: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"isp", nil, api(15, "isp.top-remote-connection-timeout"), outcomeRetry,
			JobError{Code: "15", SubCode: "isp.top-remote-connection-timeout", Message: "Remote service error: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"10", nil, api(10, ""), outcomeRetry,
			JobError{Code: "10", Message: "Service Currently Unavailable: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"quota without ban", nil, api(7, top.SubCodeAppAccessCount), outcomeRetry,
			JobError{Code: "7", SubCode: top.SubCodeAppAccessCount, Message: "App Call Limited: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"session", nil, api(27, ""), outcomeRetry,
			JobError{Code: "27", Message: "Invalid Session: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"permission", nil, api(11, ""), outcomeRetry,
			JobError{Code: "11", Message: "Insufficient ISV Permissions: mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"unknown code", nil, api(999, ""), outcomeRetry,
			JobError{Code: "999", Message: "mobile " + masked, TOPRequestID: "rid-api"}, 0},
		{"ban", nil, ban, outcomeBanned,
			JobError{Code: "7", SubCode: top.SubCodeAppAccessCount, Message: ban.Error(), TOPRequestID: "rid-ban"}, 7 * time.Second},
		{"ban without answer", nil, &topclient.BanError{Method: top.MethodBlacklistSync, RetryAfter: time.Second}, outcomeBanned,
			JobError{Message: "top taobao.logistics.express.user.blacklist.tms.sync: quota ban (app) for 1s more"}, time.Second},
		{"transport", nil, transport, outcomeRetry, JobError{Message: transport.Error()}, 0},
		{"decode", nil, decode, outcomeRetry, JobError{Message: decode.Error()}, 0},
		{"not TOP's", nil, fmt.Errorf("store: mobile 13912345678"), outcomeRetry, JobError{Message: "store: mobile " + masked}, 0},
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

// TestResendBackoffKeepsAFloor: a chunk's resend waits a random time in
// [d/2, d], d = min(RetryMax, RetryBase·2^attempt) (equal jitter).
func TestResendBackoffKeepsAFloor(t *testing.T) {
	t.Parallel()
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
