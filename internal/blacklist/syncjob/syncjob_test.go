package syncjob_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/riverqueue/river/rivertype"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/jobqueue"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a Manager on a SQLite store in a temp dir, calling an emulator
// on a real loopback listener through the real TOP client.
type env struct {
	t     *testing.T
	path  string
	store *sqlite.Store
	emu   *topemu.Emulator
	srv   *httptest.Server
	top   *topclient.Client
	cfg   syncjob.Config
	m     *syncjob.Manager
	q     *jobqueue.Queue[*sql.Tx]
	// middleware is given to River's client (tests that fail its inserts).
	middleware []rivertype.Middleware

	mu     sync.Mutex
	events []syncjob.Event

	stop func() // stops Run and waits for it
}

func newEnv(t *testing.T, mutate func(*syncjob.Config)) *env {
	t.Helper()
	return newEnvWith(t, mutate)
}

// newEnvWith is newEnv with middleware for River's client.
func newEnvWith(t *testing.T, mutate func(*syncjob.Config), middleware ...rivertype.Middleware) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), sqlite.FileName), middleware: middleware}
	var err error
	if e.emu, err = topemu.New(topemu.Config{}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.emu)
	t.Cleanup(func() {
		e.srv.Close()
		e.emu.Close()
	})
	e.top, err = topclient.New(topclient.Config{
		URL: e.srv.URL + "/router/rest", AppKey: topemu.DefaultAppKey, AppSecret: topemu.DefaultAppSecret,
		Session: topemu.DefaultSession, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.top.Close)
	e.cfg = syncjob.Config{
		TOP: e.top, Settings: syncjob.Settings{ChunkSize: 10}, RetryBase: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		WatchInterval: time.Millisecond,
		Observer: func(ev syncjob.Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
	}
	if mutate != nil {
		mutate(&e.cfg)
	}
	e.open()
	return e
}

// open opens the store and a new Manager on it (as a restart does).
func (e *env) open() {
	e.t.Helper()
	var err error
	if e.store, err = sqlite.Open(context.Background(), e.path); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.store.Close() })
	e.q, err = jobqueue.SQLite(context.Background(), e.store.DB(), jobqueue.Config{
		Queues:       map[string]int{syncjob.QueueName: e.cfg.Settings.Workers()},
		PollInterval: 10 * time.Millisecond,
		Middleware:   e.middleware,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Store = e.store
	cfg.Engine = syncjob.NewRiver(e.store, e.q.Client(), e.q.Workers())
	if e.m, err = syncjob.New(context.Background(), cfg); err != nil {
		e.t.Fatal(err)
	}
}

// run starts the delivery worker; stop (also at cleanup) ends it.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	m, q := e.m, e.q
	go func() { done <- errors.Join(q.Run(ctx), m.Run(ctx)) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				e.t.Error("Run did not stop")
			}
		})
	}
	e.t.Cleanup(e.stop)
}

func (e *env) faults(doc string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/_emulator/faults", strings.NewReader(doc))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("PUT faults: %d", resp.StatusCode)
	}
}

// requestIDs lists the request_ids of the recorded sync calls, in order.
func (e *env) requestIDs() []string {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + "/_emulator/calls?method=" + top.MethodBlacklistSync)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Calls []topemu.RecordedCall `json:"calls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, c := range out.Calls {
		var u struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(c.Params["user_blacklist_request"]), &u); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, u.RequestID)
	}
	return ids
}

func mobile(i int) string { return fmt.Sprintf("139%08d", i) }

func inputs(from, n int) []syncjob.EntryInput {
	out := make([]syncjob.EntryInput, n)
	for i := range out {
		out[i] = syncjob.EntryInput{Mobile: mobile(from + i), Reasons: []int32{int32(1 + i%5)}}
	}
	return out
}

// importEntries imports entries as one job of supplier 10000000001.
func (e *env) importEntries(op int, entries ...syncjob.EntryInput) syncjob.Result {
	e.t.Helper()
	ctx := context.Background()
	im, err := e.m.BeginImport(ctx, syncjob.Spec{SupplierID: "10000000001", OperateType: op})
	if err != nil {
		e.t.Fatal(err)
	}
	for batch := range slices.Chunk(entries, 333) {
		if err := im.Add(ctx, batch...); err != nil {
			e.t.Fatal(err)
		}
	}
	res, err := im.Commit(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// waitState waits (bounded) until the job is in a terminal state or want.
func (e *env) waitState(id string, want syncjob.State) syncjob.Job {
	e.t.Helper()
	// A bound, not a pace: a resend River schedules waits for its
	// scheduler's tick (every 5 s in River 0.51, not configurable), and a
	// chunk the faults refuse several times in a row waits several ticks
	// on a loaded machine.
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := e.m.Job(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if j.State.Terminal() || time.Now().After(deadline) {
			e.t.Fatalf("job %s is %s (%+v, last error %+v), want %s", id, j.State, j, j.LastError, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitAcked waits (bounded) until the job has at least n acknowledged
// entries.
func (e *env) waitAcked(id string, n int64) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := e.m.Job(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if j.Acknowledged >= n {
			return
		}
		if j.State.Terminal() || time.Now().After(deadline) {
			e.t.Fatalf("job %s is %s with %d acknowledged, want %d", id, j.State, j.Acknowledged, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkExactlyOnce checks the emulator applied n distinct mobiles once each.
func (e *env) checkExactlyOnce(n int) {
	e.t.Helper()
	b := e.emu.Stats().Blacklist
	if b.EntriesApplied != int64(n) || b.MobilesApplied != n || (n > 0 && b.MaxAppliesPerMobile != 1) || b.SyncRequestsConflicting != 0 {
		e.t.Fatalf("emulator applied %d entries, %d mobiles, at most %d times each, %d conflicts; want %d once each",
			b.EntriesApplied, b.MobilesApplied, b.MaxAppliesPerMobile, b.SyncRequestsConflicting, n)
	}
}

func TestValidateEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mobile  string
		reasons []int32
		field   string
		want    uint8
	}{
		{"13800000000", nil, "", 0},
		{"19912345678", []int32{5, 1, 3}, "", 1<<1 | 1<<3 | 1<<5},
		{"", []int32{1}, "mobile", 0},
		{"12800000000", nil, "mobile", 0},
		{"1380000000", nil, "mobile", 0},
		{"138000000000", nil, "mobile", 0},
		{"1380000000a", nil, "mobile", 0},
		{"+8613800000000", nil, "mobile", 0},
		{"13800000000", []int32{1, 0}, "reason[1]", 0},
		{"13800000000", []int32{6}, "reason[0]", 0},
		{"13800000000", []int32{-1}, "reason[0]", 0},
		{"13800000000", []int32{2, 3, 2}, "reason[2]", 0},
	}
	for _, tt := range tests {
		e, field, problem := syncjob.ValidateEntry(tt.mobile, tt.reasons)
		if field != tt.field || (field == "") != (problem == "") {
			t.Errorf("ValidateEntry(%q, %v) field %q (%q), want %q", tt.mobile, tt.reasons, field, problem, tt.field)
			continue
		}
		if field == "" && (e.Mobile != tt.mobile || e.Reasons != tt.want) {
			t.Errorf("ValidateEntry(%q, %v) = %+v", tt.mobile, tt.reasons, e)
		}
	}
}

func TestReasonText(t *testing.T) {
	t.Parallel()
	for set, want := range map[uint8]string{0: "", 1 << 1: "1", 1<<5 | 1<<2: "2,5", 0b111110: "1,2,3,4,5"} {
		if got := syncjob.ReasonText(set); got != want {
			t.Errorf("ReasonText(%b) = %q, want %q", set, got, want)
		}
		if got := JoinReasons(syncjob.Reasons(set)); got != want {
			t.Errorf("Reasons(%b) = %q", set, got)
		}
	}
}

// JoinReasons joins reasons with commas (test helper).
func JoinReasons(rs []int32) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprint(r)
	}
	return strings.Join(parts, ",")
}

func TestImportSyncsEveryEntryExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	in := inputs(0, 95)
	in = append(in,
		syncjob.EntryInput{Mobile: "12345", Line: 97},                           // bad mobile
		syncjob.EntryInput{Mobile: mobile(3), Reasons: []int32{4, 5}, Line: 98}, // duplicate: these reasons win
		syncjob.EntryInput{Mobile: mobile(7), Reasons: []int32{9}, Line: 99},    // bad reason
	)
	res := e.importEntries(1, in...)
	j := res.Job
	if j.State != syncjob.StateQueued || j.Received != 98 || j.Rejected != 2 || j.Duplicates != 1 || j.Total != 95 || j.Chunks != 10 || j.ChunkSize != 10 {
		t.Fatalf("job after import: %+v", j)
	}
	wantRej := []syncjob.Rejection{
		{Index: 95, Line: 97, Field: "mobile", Description: syncjob.MsgMobileFormat},
		{Index: 97, Line: 99, Field: "reason[0]", Description: syncjob.MsgReasonRange},
	}
	if !slices.Equal(res.Rejections, wantRej) {
		t.Fatalf("rejections %v, want %v", res.Rejections, wantRej)
	}
	if s := res.Rejections[0].String(); s != "entry 95 (line 97): mobile: "+syncjob.MsgMobileFormat {
		t.Errorf("String() = %q", s)
	}
	e.run()
	j = e.waitState(j.ID, syncjob.StateSucceeded)
	if j.Sent != 95 || j.Acknowledged != 95 || j.Failed != 0 || j.LastError != nil {
		t.Fatalf("job at the end: %+v", j)
	}
	e.checkExactlyOnce(95)
	// Each chunk once, with its deterministic request_id.
	ids := e.requestIDs()
	slices.Sort(ids)
	var want []string
	for n := range int64(10) {
		want = append(want, syncjob.RequestID(j.ID, n))
	}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("request ids %v, want %v", ids, want)
	}
	// The duplicate's reasons won.
	snap := e.emu.Snapshot()
	for _, b := range snap.Blacklist {
		if b.Mobile == mobile(3) && b.Reasons != "4,5" {
			t.Errorf("mobile 3 has reasons %q, want 4,5", b.Reasons)
		}
	}
	e.mu.Lock()
	kinds := map[syncjob.EventKind]int{}
	for _, ev := range e.events {
		kinds[ev.Kind]++
	}
	e.mu.Unlock()
	if kinds[syncjob.EventJobQueued] != 1 || kinds[syncjob.EventJobStarted] != 1 || kinds[syncjob.EventChunkAcknowledged] != 10 || kinds[syncjob.EventJobFinished] != 1 {
		t.Errorf("events %v", kinds)
	}
	if c, err := e.m.Counts(context.Background()); err != nil || c[syncjob.StateSucceeded] != 1 {
		t.Errorf("Counts = %v, %v", c, err)
	}
	if c, err := e.m.SyncJobCounts(context.Background()); err != nil || len(c) != 5 || c["succeeded"] != 1 || c["queued"] != 0 {
		t.Errorf("SyncJobCounts = %v, %v", c, err)
	}
}

func TestImportWithoutValidEntriesLeavesNoJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	tests := []struct {
		name    string
		entries []syncjob.EntryInput
		check   func(error) bool
	}{
		{"no entries", nil, func(err error) bool { return errors.Is(err, syncjob.ErrNoEntries) }},
		{"all rejected", []syncjob.EntryInput{{Mobile: "1"}, {Mobile: "2", Line: 3}}, func(err error) bool {
			var nv *syncjob.NoValidEntriesError
			return errors.As(err, &nv) && nv.Rejected == 2 && len(nv.Rejections) == 2 && nv.Rejections[1].Line == 3
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := e.m.BeginImport(ctx, syncjob.Spec{SupplierID: "s", OperateType: 2})
			if err != nil {
				t.Fatal(err)
			}
			if err := im.Add(ctx, tt.entries...); err != nil {
				t.Fatal(err)
			}
			if _, err := im.Commit(ctx); !tt.check(err) {
				t.Fatalf("Commit: %v", err)
			}
			if _, err := e.m.Job(ctx, im.ID()); !errors.Is(err, syncjob.ErrJobNotFound) {
				t.Fatalf("job left behind: %v", err)
			}
		})
	}
	// An aborted import with stored entries leaves nothing either.
	im, err := e.m.BeginImport(ctx, syncjob.Spec{SupplierID: "s", OperateType: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ctx, inputs(0, 3*syncjob.ImportBatch)...); err != nil {
		t.Fatal(err)
	}
	im.Abort(ctx)
	im.Abort(ctx)
	if n, err := e.store.DeleteStaleImports(ctx); err != nil || n != 0 {
		t.Fatalf("stale imports after Abort: %d, %v", n, err)
	}
	if page, err := e.m.ListJobs(ctx, syncjob.JobQuery{}); err != nil || len(page.Jobs) != 0 {
		t.Fatalf("jobs: %+v, %v", page, err)
	}
}

func TestBadSpecs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, s := range []syncjob.Spec{
		{OperateType: 1},
		{SupplierID: strings.Repeat("x", 65), OperateType: 1},
		{SupplierID: "s"},
		{SupplierID: "s", OperateType: 3},
		{SupplierID: "s", OperateType: 1, ServiceType: 2},
		{SupplierID: "s", OperateType: 1, AbilityType: 2},
	} {
		var se *syncjob.SpecError
		if _, err := e.m.BeginImport(context.Background(), s); !errors.As(err, &se) {
			t.Errorf("BeginImport(%+v) = %v", s, err)
		}
	}
	for _, bad := range []syncjob.Settings{{ChunkSize: -1}, {ChunkSize: 101}, {ConcurrentJobs: 65}, {ChunksInFlight: -1}} {
		if _, err := syncjob.New(context.Background(), syncjob.Config{Store: e.store, TOP: e.top, Settings: bad}); err == nil {
			t.Errorf("settings %+v accepted", bad)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    syncjob.Settings
		want string
	}{
		{syncjob.Settings{ChunkSize: 1, ConcurrentJobs: 1, ChunksInFlight: 1, RescueAfter: time.Second, PollInterval: 10 * time.Millisecond}, ""},
		{syncjob.Settings{ChunkSize: 100, ConcurrentJobs: 64, ChunksInFlight: 64, RescueAfter: time.Hour, PollInterval: time.Minute}, ""},
		{syncjob.Settings{ChunkSize: 0, ConcurrentJobs: 65, ChunksInFlight: 0, RescueAfter: time.Minute, PollInterval: time.Second},
			"--sync-chunk-size must be 1 to 100 (TOP's entries per call)\n" +
				"--sync-concurrent-jobs must be 1 to 64\n--sync-chunks-in-flight must be 1 to 64"},
		{syncjob.Settings{ChunkSize: 101, ConcurrentJobs: 2, ChunksInFlight: 4, RescueAfter: time.Minute, PollInterval: time.Second},
			"--sync-chunk-size must be 1 to 100 (TOP's entries per call)"},
		{syncjob.Settings{ChunkSize: 100, ConcurrentJobs: 2, ChunksInFlight: 4, RescueAfter: 999 * time.Millisecond, PollInterval: 9 * time.Millisecond},
			"--sync-rescue-after must be at least 1s\n--sync-poll-interval must be 10ms to 1m"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if got := fmt.Sprint(err); (err == nil) != (tt.want == "") || (err != nil && got != tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.s, err, tt.want)
		}
	}
}

// TestFaultsAreRetriedExactlyOnce runs a job through transient business
// failures, platform errors, broken HTTP, dropped connections, latency and
// quota bans: every entry still arrives exactly once. The first rule is
// TOP's ban answer: the quota (15 calls per calendar second) bans only if
// the machine is fast enough to make 16 calls in one second.
func TestFaultsAreRetriedExactlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *syncjob.Config) { c.ChunksInFlight = 3 })
	e.faults(`{"seed": 3, "rules": [
		{"method": "` + top.MethodBlacklistSync + `", "count": 1, "error": {"code": 7, "sub_code": "` + top.SubCodeAppAccessCount + `", "sub_msg": "` + top.BanMessage(time.Second) + `"}},
		{"method": "` + top.MethodBlacklistSync + `", "count": 4, "busy": true},
		{"method": "` + top.MethodBlacklistSync + `", "count": 3, "error": {"code": 15, "sub_code": "isp.top-remote-service-unavailable"}},
		{"method": "` + top.MethodBlacklistSync + `", "count": 3, "http_status": 503},
		{"method": "` + top.MethodBlacklistSync + `", "count": 2, "drop": true},
		{"method": "` + top.MethodBlacklistSync + `", "count": 5, "latency": "20ms", "probability": 0.5}
	], "quota": {"calls_per_second": 15, "ban_seconds": 1}}`)
	res := e.importEntries(1, inputs(0, 300)...)
	e.run()
	j := e.waitState(res.Job.ID, syncjob.StateSucceeded)
	if j.Acknowledged != 300 || j.Failed != 0 {
		t.Fatalf("job %+v", j)
	}
	e.checkExactlyOnce(300)
	st := e.emu.Stats()
	if st.Calls.ByErrorCode["7"] == 0 || st.Calls.ByErrorCode["15"] == 0 {
		t.Errorf("the faults did not all fire: %+v", st.Calls)
	}
	if j.LastError != nil {
		t.Errorf("a SUCCEEDED job shows last error %+v; every failure was overcome", *j.LastError)
	}
	e.mu.Lock()
	retries := 0
	for _, ev := range e.events {
		if ev.Kind == syncjob.EventChunkRetrying {
			retries++
		}
	}
	e.mu.Unlock()
	if retries == 0 {
		t.Error("no EventChunkRetrying")
	}
}

// TestRetryFailedChunks: a FAILED job's failed chunk is sent again with
// its request id; the job ends SUCCEEDED with every entry applied once.
// A job not finished, one without failed chunks and an unknown one are
// refused with their errors.
func TestRetryFailedChunks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *syncjob.Config) { c.ConcurrentJobs, c.ChunksInFlight = 1, 1 })
	e.faults(`{"rules": [{"method": "` + top.MethodBlacklistSync + `", "count": 1,
		"error": {"code": 15, "sub_code": "isv.invalid-parameter", "sub_msg": "refused"}}]}`)
	res := e.importEntries(1, inputs(0, 25)...)
	if _, _, err := e.m.RetryFailedChunks(context.Background(), res.Job.ID); !errors.Is(err, syncjob.ErrJobNotFinished) {
		t.Fatalf("retry of a QUEUED job: %v, want ErrJobNotFinished", err)
	}
	e.run()
	e.waitState(res.Job.ID, syncjob.StateFailed)
	j, n, err := e.m.RetryFailedChunks(context.Background(), res.Job.ID)
	if err != nil || n != 1 || j.State != syncjob.StateQueued || j.Failed != 0 || j.LastError != nil {
		t.Fatalf("retry: %+v, %d chunks, %v", j, n, err)
	}
	j = e.waitState(res.Job.ID, syncjob.StateSucceeded)
	if j.Acknowledged != 25 || j.Failed != 0 || j.Sent != 25 {
		t.Fatalf("job after retry %+v", j)
	}
	e.checkExactlyOnce(25)
	// The refused chunk (the first sent) is sent again, last, with the
	// same request id.
	ids := e.requestIDs()
	sorted := slices.Sorted(slices.Values(ids[:3]))
	want := []string{syncjob.RequestID(res.Job.ID, 0), syncjob.RequestID(res.Job.ID, 1), syncjob.RequestID(res.Job.ID, 2)}
	if len(ids) != 4 || ids[0] != ids[3] || !slices.Equal(sorted, want) {
		t.Fatalf("request ids %v: want the 3 chunks, then the first again", ids)
	}
	if _, _, err := e.m.RetryFailedChunks(context.Background(), res.Job.ID); !errors.Is(err, syncjob.ErrNoFailedChunks) {
		t.Fatalf("retry of a SUCCEEDED job: %v, want ErrNoFailedChunks", err)
	}
	if _, _, err := e.m.RetryFailedChunks(context.Background(), "bj-nope"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("retry of an unknown job: %v, want ErrJobNotFound", err)
	}
}

// TestPermanentFailureFailsOneChunk: a chunk TOP refuses for good is
// recorded with TOP's code; the other chunks go on; the job ends FAILED.
func TestPermanentFailureFailsOneChunk(t *testing.T) {
	t.Parallel()
	// One River worker: the chunks go in order, so chunk 0 meets the fault.
	e := newEnv(t, func(c *syncjob.Config) { c.ConcurrentJobs, c.ChunksInFlight = 1, 1 })
	e.faults(`{"rules": [{"method": "` + top.MethodBlacklistSync + `", "count": 1,
		"error": {"code": 15, "sub_code": "isv.invalid-parameter", "sub_msg": "bad mobile 13912345678"}}]}`)
	res := e.importEntries(2, inputs(0, 25)...)
	e.run()
	j := e.waitState(res.Job.ID, syncjob.StateFailed)
	if j.Acknowledged != 15 || j.Failed != 10 || j.Sent != 25 {
		t.Fatalf("job %+v", j)
	}
	le := j.LastError
	if le == nil || !le.Final || le.Chunk != 0 || le.Code != "15" || le.SubCode != "isv.invalid-parameter" ||
		!strings.Contains(le.Message, "139****5678") || le.TOPRequestID == "" {
		t.Fatalf("last error %+v", le)
	}
	e.checkExactlyOnce(15)
}

// TestBusinessRefusalFailsChunk: success=false with is_retry=false (here a
// conflicting request_id) is a permanent failure.
func TestBusinessRefusalFailsChunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	res := e.importEntries(1, inputs(0, 10)...)
	// Someone else used the chunk's request_id with another payload.
	other := syncjob.ChunkRequest(res.Job, 0, []syncjob.Entry{{Mobile: "13700000000"}})
	other.UserBlacklistRequest.RequestTime = 1
	if _, err := top.Do(context.Background(), e.top, top.BlacklistSync, other); err != nil {
		t.Fatal(err)
	}
	e.run()
	j := e.waitState(res.Job.ID, syncjob.StateFailed)
	if j.Failed != 10 || j.LastError == nil || j.LastError.Code != top.BlacklistCodeConflict {
		t.Fatalf("job %+v, last error %+v", j, j.LastError)
	}
}

// TestCancelStopsSending cancels a running job: the chunk in flight is
// abandoned and nothing is sent after. TOP answers two chunks, then holds
// the third (a latency the cancel abandons), so the job cannot finish
// before the cancel, however slow the machine.
func TestCancelStopsSending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *syncjob.Config) { c.ConcurrentJobs, c.ChunksInFlight = 1, 1 })
	e.faults(`{"rules": [{"method": "` + top.MethodBlacklistSync + `", "latency": "30ms", "count": 2},
		{"method": "` + top.MethodBlacklistSync + `", "latency": "5m"}]}`)
	res := e.importEntries(1, inputs(0, 200)...)
	e.run()
	e.waitAcked(res.Job.ID, 20)
	j, err := e.m.Cancel(context.Background(), res.Job.ID)
	if err != nil || j.State != syncjob.StateCancelled {
		t.Fatalf("Cancel = %+v, %v", j, err)
	}
	if _, err := e.m.Cancel(context.Background(), res.Job.ID); !errors.Is(err, syncjob.ErrJobFinished) {
		t.Fatalf("second Cancel: %v", err)
	}
	if _, err := e.m.Cancel(context.Background(), "bj-none"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("Cancel of an unknown job: %v", err)
	}
	e.stop() // waits for the worker: nothing is sent after this
	calls := len(e.requestIDs())
	j, _ = e.m.Job(context.Background(), res.Job.ID)
	if j.State != syncjob.StateCancelled || j.Acknowledged >= 200 || calls >= 20 || calls*10 < int(j.Acknowledged) {
		t.Fatalf("after cancel: %+v, %d calls", j, calls)
	}
}

// TestResumeAfterStop stops the worker mid-job (as a shutdown or a crash
// does) and starts a new Manager on the same file: the job completes and
// every entry is applied once, the chunks in flight replayed. TOP answers
// ten chunks, then holds the next ones (a latency the stop abandons), so
// the job is mid-way at the stop, however slow the machine.
func TestResumeAfterStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *syncjob.Config) { c.ChunksInFlight = 2 })
	e.faults(`{"rules": [{"method": "` + top.MethodBlacklistSync + `", "latency": "15ms", "count": 10},
		{"method": "` + top.MethodBlacklistSync + `", "latency": "5m"}]}`)
	res := e.importEntries(1, inputs(0, 400)...)
	e.run()
	e.waitAcked(res.Job.ID, 100)
	e.stop()
	mid, _ := e.m.Job(context.Background(), res.Job.ID)
	if mid.State != syncjob.StateRunning || mid.Acknowledged >= 400 {
		t.Fatalf("job after stop: %+v", mid)
	}
	e.store.Close()
	e.faults(`{"rules": []}`)
	e.open()
	e.run()
	j := e.waitState(res.Job.ID, syncjob.StateSucceeded)
	if j.Acknowledged != 400 || j.Sent != 400 {
		t.Fatalf("job %+v", j)
	}
	e.checkExactlyOnce(400)
}

func TestConcurrentJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *syncjob.Config) { c.ConcurrentJobs = 2 })
	var ids []string
	for i := range 4 {
		ids = append(ids, e.importEntries(1+i%2, inputs(i*1000, 150)...).Job.ID)
	}
	var wg sync.WaitGroup
	watched := make([][]syncjob.Job, len(ids))
	// Every watch has sent the job as queued before the workers start:
	// a watch that a loaded machine starts late would begin at RUNNING.
	var first sync.WaitGroup
	first.Add(len(ids))
	for i, id := range ids {
		wg.Go(func() {
			if err := e.m.Watch(context.Background(), id, func(j syncjob.Job) error {
				watched[i] = append(watched[i], j)
				if len(watched[i]) == 1 {
					first.Done()
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	first.Wait()
	e.run()
	wg.Wait()
	for i, id := range ids {
		j := e.waitState(id, syncjob.StateSucceeded)
		if j.Acknowledged != 150 {
			t.Errorf("job %d: %+v", i, j)
		}
		w := watched[i]
		if len(w) < 2 || w[0].State != syncjob.StateQueued || w[len(w)-1].State != syncjob.StateSucceeded {
			t.Errorf("job %d watched %d updates, from %v to %v", i, len(w), w[0].State, w[len(w)-1].State)
		}
		for k := 1; k < len(w); k++ {
			if w[k].Acknowledged < w[k-1].Acknowledged {
				t.Errorf("job %d: progress went back", i)
			}
		}
	}
	e.checkExactlyOnce(600)
}

func TestWatchEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.m.Watch(ctx, "bj-none", func(syncjob.Job) error { return nil }); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("Watch of an unknown job: %v", err)
	}
	res := e.importEntries(1, inputs(0, 5)...)
	stop := errors.New("enough")
	if err := e.m.Watch(ctx, res.Job.ID, func(syncjob.Job) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("send error: %v", err)
	}
	// The context ending ends a watch waiting for the next change (the job
	// is queued and no worker runs: only the cancel can end it).
	cctx, cancel := context.WithCancel(ctx)
	if err := e.m.Watch(cctx, res.Job.ID, func(syncjob.Job) error { cancel(); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled watch: %v", err)
	}
	// The manager stopping ends a watch of a job that is not done: TOP
	// holds the job's chunks (a latency the stop abandons), and the stop
	// comes once the watch has sent the job.
	e.run()
	e.faults(`{"rules": [{"method": "` + top.MethodBlacklistSync + `", "latency": "5m"}]}`)
	res = e.importEntries(1, inputs(100, 50)...)
	errc := make(chan error, 1)
	watching := make(chan struct{})
	var once sync.Once
	go func() {
		errc <- e.m.Watch(ctx, res.Job.ID, func(syncjob.Job) error { once.Do(func() { close(watching) }); return nil })
	}()
	select {
	case <-watching:
	case err := <-errc:
		t.Fatalf("watch ended before the stop: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the watch sent nothing")
	}
	e.stop()
	if err := <-errc; !errors.Is(err, syncjob.ErrStopped) {
		t.Fatalf("watch after stop: %v", err)
	}
	if left := syncjob.WatchSlots(e.m); left != 0 {
		t.Errorf("%d watch slots left", left)
	}
}

// TestStaleImportRemovedAtStart: an import a crash interrupted is gone
// after the next start.
func TestStaleImportRemovedAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	im, err := e.m.BeginImport(ctx, syncjob.Spec{SupplierID: "s", OperateType: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ctx, inputs(0, syncjob.ImportBatch+5)...); err != nil {
		t.Fatal(err)
	}
	e.store.Close() // crash: no Commit, no Abort
	e.open()
	if n, err := e.store.DeleteStaleImports(ctx); err != nil || n != 0 {
		t.Fatalf("New left %d stale imports (%v)", n, err)
	}
}

func TestChunkRequestIsDeterministic(t *testing.T) {
	t.Parallel()
	j := syncjob.Job{JobSpec: syncjob.JobSpec{ID: "bj-x", SupplierID: "10000000001", OperateType: 2, ServiceType: 1, AbilityType: 1, ChunkSize: 2}}
	entries := []syncjob.Entry{{Mobile: "13800000000", Reasons: 1<<3 | 1<<1}, {Mobile: "13800000001"}}
	a, _ := json.Marshal(syncjob.ChunkRequest(j, 7, entries).UserBlacklistRequest)
	b, _ := json.Marshal(syncjob.ChunkRequest(j, 7, slices.Clone(entries)).UserBlacklistRequest)
	want := `{"request_id":"bj-x:7","supplier_id":"10000000001","service_type":"1","ability_type":"1","blacklist":[{"mobile":"13800000000","reason":"1,3"},{"mobile":"13800000001"}],"operate_type":2}`
	if !bytes.Equal(a, b) || string(a) != want {
		t.Fatalf("request\n got %s\nwant %s", a, want)
	}
	if id := syncjob.NewJobID(); len(syncjob.RequestID(id, 1<<62)) > 64 || !strings.HasPrefix(id, "bj-") || id == syncjob.NewJobID() {
		t.Fatalf("job id %q", id)
	}
}
