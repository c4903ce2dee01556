package events

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/service"
	"github.com/servicecenterd/servicecenterd/internal/store/storetest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinary()
	os.Exit(code)
}

// serve runs `servicecenterd serve` against the emulator, consuming TMC
// at tmcURL, with its store in dataDir (or --database-url in extra).
func serve(t *testing.T, e *testserver.Emulator, tmcURL, dataDir string, extra ...string) *testserver.Process {
	t.Helper()
	args := []string{"serve", "--log-format", "json", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--tmc-url", tmcURL}
	args = append(append(args, e.ServeFlags()...), extra...)
	return testserver.StartProcess(t, testserver.Binary(t), args...)
}

// allEvents lists every stored event, oldest first.
func allEvents(t *testing.T, c scv1.EventServiceClient) []*scv1.Event {
	t.Helper()
	var out []*scv1.Event
	req := &scv1.ListEventsRequest{PageSize: 1000}
	for {
		page, err := c.ListEvents(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.GetEvents()...)
		if page.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = page.GetNextPageToken()
	}
}

// checkOnce checks that events are the messages ids, each once, with
// cursors 1..n.
func checkOnce(t *testing.T, evs []*scv1.Event, ids []int64) {
	t.Helper()
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	seen := map[int64]bool{}
	for i, e := range evs {
		if e.GetCursor() != int64(i+1) {
			t.Fatalf("event %d has cursor %d, want %d", i, e.GetCursor(), i+1)
		}
		if seen[e.GetMessageId()] || !want[e.GetMessageId()] {
			t.Fatalf("event %d: message %d stored twice or never published", e.GetCursor(), e.GetMessageId())
		}
		seen[e.GetMessageId()] = true
	}
	if len(seen) != len(ids) {
		t.Fatalf("%d messages stored, want %d", len(seen), len(ids))
	}
}

// metric sums the samples of a counter on a process's /metrics.
func metric(t *testing.T, httpAddr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	re := regexp.MustCompile(`(?m)^` + name + `(\{[^}]*\})? ([0-9.e+]+)$`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		sum += v
	}
	return sum
}

// TestKillBeforeConfirm: servicecenterd receives and stores messages but
// its confirms never reach the channel (a proxy drops them); it is killed
// with SIGKILL. After the restart the channel redelivers every message:
// each is in the store exactly once, a watcher of the new process sees
// each once, the watcher of the killed one resumes after its last cursor
// without repeats, and the channel ends with every message confirmed.
func TestKillBeforeConfirm(t *testing.T) {
	const n = 50
	emu := testserver.StartEmulator(t, topemu.Config{})
	proxy := newConfirmDropper(t, strings.TrimPrefix(emu.URL, "http://"))
	dir := t.TempDir()
	first := serve(t, emu, proxy.URL(), dir)
	w := watch(t, first.Events, &scv1.WatchEventsRequest{AfterCursor: new(int64(0))})
	ids := publish(t, emu.Admin, "tmall_fuwu_WorkcardStatusUpdate", n)
	var last int64
	for range n {
		last = w.next(t, 10*time.Second).GetCursor()
	}
	testserver.WaitFor(t, "the confirms dropped", func() bool { return proxy.dropped.Load() >= n })
	if recs, err := emu.TMCMessages(topemu.TMCFilter{State: topemu.TMCConfirmed}); err != nil || len(recs) != 0 {
		t.Fatalf("confirmed at the channel before the kill: %d %v, want none", len(recs), err)
	}
	first.Kill(t)

	second := serve(t, emu, emu.TMCURL(), dir)
	testserver.WaitFor(t, "every message confirmed after the restart", func() bool {
		recs, err := emu.TMCMessages(topemu.TMCFilter{State: topemu.TMCConfirmed})
		return err == nil && len(recs) == n
	})
	checkOnce(t, allEvents(t, second.Events), ids)
	if d := metric(t, second.HTTPAddr, "servicecenterd_events_duplicates_total"); d < n {
		t.Errorf("servicecenterd_events_duplicates_total %v, want at least %d (each redelivery found stored)", d, n)
	}
	if s := metric(t, second.HTTPAddr, "servicecenterd_events_stored_total"); s != 0 {
		t.Errorf("servicecenterd_events_stored_total %v after the restart, want 0 (nothing stored twice)", s)
	}
	resumed := watch(t, second.Events, &scv1.WatchEventsRequest{AfterCursor: &last})
	resumed.quiet(t, 300*time.Millisecond)
	fresh := watch(t, second.Events, &scv1.WatchEventsRequest{AfterCursor: new(int64(0))})
	seen := map[int64]bool{}
	for range n {
		e := fresh.next(t, 5*time.Second)
		if seen[e.GetMessageId()] {
			t.Fatalf("the new watcher saw message %d twice", e.GetMessageId())
		}
		seen[e.GetMessageId()] = true
	}
	fresh.quiet(t, 300*time.Millisecond)
	t.Logf("%d messages stored, killed before any confirm, redelivered and stored once", n)
}

// TestReplicasOnPostgres: three replicas share one PostgreSQL database
// and connect in the same TMC group, while the channel delivers every
// message twice (the emulator's duplicate fault): each message is stored
// once, every replica's watcher sees every message once, in the same
// cursor order, and the channel ends with every message confirmed.
func TestReplicasOnPostgres(t *testing.T) {
	const n = 120
	url := pgmigrated.NewDatabase(t)
	emu := testserver.StartEmulator(t, topemu.Config{})
	if err := emu.SetTMCFaults(topemu.TMCFaults{Duplicate: true}); err != nil {
		t.Fatal(err)
	}
	var replicas []*testserver.Server
	var watchers []*watchStream
	for range 3 {
		ts := testserver.Start(t, func(c *server.Config) {
			emu.Use(c)
			c.TMC.URL = emu.TMCURL()
			c.Store.DatabaseURL = url
		})
		replicas = append(replicas, ts)
		watchers = append(watchers, watch(t, ts.Events, &scv1.WatchEventsRequest{AfterCursor: new(int64(0))}))
	}
	testserver.WaitFor(t, "three TMC connections", func() bool { return connections(t, emu) == 3 })
	ids := publish(t, emu.Admin, "tmall_fuwu_WorkcardStatusUpdate", n)
	for i, w := range watchers {
		seen := map[int64]bool{}
		for c := int64(1); c <= n; c++ {
			e := w.next(t, 10*time.Second)
			if e.GetCursor() != c || seen[e.GetMessageId()] {
				t.Fatalf("replica %d: event %d has cursor %d, message %d (seen before: %v)", i, c, e.GetCursor(), e.GetMessageId(), seen[e.GetMessageId()])
			}
			seen[e.GetMessageId()] = true
		}
		w.quiet(t, 100*time.Millisecond)
	}
	testserver.WaitFor(t, "every message confirmed", func() bool {
		recs, err := emu.TMCMessages(topemu.TMCFilter{State: topemu.TMCConfirmed})
		return err == nil && len(recs) == n
	})
	checkOnce(t, allEvents(t, replicas[0].Events), ids)
	// One more: every replica's watcher has it within 1 s of its
	// publication, whichever replica stored it.
	publish(t, emu.Admin, "tmall_fuwu_WorkcardStatusUpdate", 1)
	for i, w := range watchers {
		if e := w.next(t, time.Second); e.GetCursor() != n+1 {
			t.Fatalf("replica %d: event %d, want %d", i, e.GetCursor(), n+1)
		}
	}
	checkRetention(t, url, replicas[1])
	var stored float64
	for _, ts := range replicas {
		stored += metric(t, ts.HTTPAddr(), "servicecenterd_events_stored_total")
	}
	if stored != n+1 {
		t.Errorf("the replicas stored %v messages in all, want %d", stored, n+1)
	}
}

// connections counts the emulator's TMC connections.
func connections(t *testing.T, emu *testserver.Emulator) int {
	t.Helper()
	st := emu.TMCStatus()
	n := 0
	for _, g := range st.Groups {
		n += len(g.Connections)
	}
	return n
}

// checkRetention prunes the events up to cursor 100 through another
// handle on the replicas' database, as a replica's retention would, and
// checks that a reader behind it gets FAILED_PRECONDITION (reason
// EVENT_CURSOR_EXPIRED) while one at the floor, or from 0, goes on.
func checkRetention(t *testing.T, url string, ts *testserver.Server) {
	t.Helper()
	ctx := context.Background()
	st := storetest.PostgresAt(t, url)
	if n, err := st.PruneEvents(ctx, time.Now().Add(time.Hour), 100); err != nil || n != 100 {
		t.Fatalf("prune: %d %v, want 100", n, err)
	}
	_, err := ts.Events.ListEvents(ctx, &scv1.ListEventsRequest{AfterCursor: 99})
	st1 := status.Convert(err)
	if st1.Code() != codes.FailedPrecondition || !strings.Contains(fmt.Sprint(st1.Details()), service.ReasonEventCursorExpired) {
		t.Fatalf("ListEvents after an expired cursor: %v %v, want FAILED_PRECONDITION %s", st1.Code(), st1.Details(), service.ReasonEventCursorExpired)
	}
	w := watch(t, ts.Events, &scv1.WatchEventsRequest{AfterCursor: new(int64(50))})
	if err := <-w.err; status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("WatchEvents after an expired cursor: %v", err)
	}
	for _, after := range []int64{0, 100} {
		page, err := ts.Events.ListEvents(ctx, &scv1.ListEventsRequest{AfterCursor: after, PageSize: 1})
		if err != nil || len(page.GetEvents()) != 1 || page.GetEvents()[0].GetCursor() != 101 {
			t.Fatalf("ListEvents after %d: %v %v, want cursor 101 first", after, page, err)
		}
	}
}
