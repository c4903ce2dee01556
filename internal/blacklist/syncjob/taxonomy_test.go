package syncjob_test

import (
	"strconv"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TestChunkFateFollowsTheTaxonomy sends a one-chunk job through the real
// client and emulator while TOP answers a platform error more often than
// the client retries within one call, and checks the job's end: refused
// content fails the chunk, everything else is resent until it arrives
// once. Codes 40/41/43 with an isp.* sub-code (failed for good before top
// owned the taxonomy) are resent, as the sub-code says.
func TestChunkFateFollowsTheTaxonomy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		sub  string
		want syncjob.State
	}{
		{41, "isp.top-remote-service-unavailable", syncjob.StateSucceeded},
		{40, "isp.top-remote-connection-timeout", syncjob.StateSucceeded},
		{43, "isp.top-remote-unknown-error", syncjob.StateSucceeded},
		{10, "isv.invalid-parameter", syncjob.StateSucceeded},
		{15, "isp.top-remote-service-unavailable", syncjob.StateSucceeded},
		{41, "", syncjob.StateFailed},
		{15, "isv.invalid-parameter", syncjob.StateFailed},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code)+"/"+tt.sub, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *syncjob.Config) { c.ChunksInFlight = 1 })
			// The client sends a call up to 3 times: 4 failures make the
			// sync itself decide at least once.
			e.faults(`{"rules": [{"method": "` + top.MethodBlacklistSync + `", "count": 4,
				"error": {"code": ` + strconv.Itoa(tt.code) + `, "sub_code": "` + tt.sub + `"}}]}`)
			res := e.importEntries(1, inputs(0, 10)...)
			e.run()
			j := e.waitState(res.Job.ID, tt.want)
			le := j.LastError
			switch tt.want {
			case syncjob.StateSucceeded:
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
		if ev.Kind == syncjob.EventChunkRetrying && ev.Error != nil && ev.Error.Code == code && ev.Error.SubCode == sub {
			return true
		}
	}
	return false
}
