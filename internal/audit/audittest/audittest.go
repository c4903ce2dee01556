// Package audittest holds the cases every audit.Store must pass, so that
// the in-memory store of the tests and the durable one are held to the
// same behaviour: call TestStore from each implementation's tests.
package audittest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/audit"
)

// T0 is the time of the first event the cases record.
var T0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TestStore runs every case against fresh stores made by open.
func TestStore(t *testing.T, open func(t *testing.T) audit.Store) {
	t.Helper()
	t.Run("list", func(t *testing.T) { testList(t, open(t)) })
	t.Run("round trip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("prune", func(t *testing.T) { testPrune(t, open(t)) })
	t.Run("canceled", func(t *testing.T) { testCanceled(t, open(t)) })
	t.Run("concurrent records", func(t *testing.T) { testConcurrentRecords(t, open(t)) })
}

// record5 records five events one minute apart: clients a b a a b,
// outcomes OK PermissionDenied OK PermissionDenied OK, RPC /s.S/M, except
// the last, /s.S/N.
func record5(t *testing.T, s audit.Store) {
	t.Helper()
	for i, c := range []string{"a", "b", "a", "a", "b"} {
		code := codes.OK
		if i%2 == 1 {
			code = codes.PermissionDenied
		}
		rpc := "/s.S/M"
		if i == 4 {
			rpc = "/s.S/N"
		}
		if err := s.Record(context.Background(), audit.Event{Time: T0.Add(time.Duration(i) * time.Minute), Client: c, RPC: rpc, Outcome: code}); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(t *testing.T, s audit.Lister, q audit.Query) string {
	t.Helper()
	evs, err := s.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return fmt.Sprint(out)
}

func testList(t *testing.T, s audit.Store) {
	record5(t, s)
	tests := []struct {
		name string
		q    audit.Query
		want string
	}{
		{"all, newest first", audit.Query{Limit: 10}, "[5 4 3 2 1]"},
		{"limit", audit.Query{Limit: 2}, "[5 4]"},
		{"limit 1", audit.Query{Limit: 1}, "[5]"},
		{"before", audit.Query{Limit: 2, BeforeID: 4}, "[3 2]"},
		{"before the first", audit.Query{Limit: 10, BeforeID: 1}, "[]"},
		{"client", audit.Query{Limit: 10, Client: "a"}, "[4 3 1]"},
		{"client and before", audit.Query{Limit: 10, Client: "a", BeforeID: 4}, "[3 1]"},
		{"outcome", audit.Query{Limit: 10, Outcomes: []codes.Code{codes.PermissionDenied}}, "[4 2]"},
		{"outcomes", audit.Query{Limit: 10, Outcomes: []codes.Code{codes.PermissionDenied, codes.NotFound}}, "[4 2]"},
		{"outcome none", audit.Query{Limit: 10, Outcomes: []codes.Code{codes.Unavailable}}, "[]"},
		{"outcome OK", audit.Query{Limit: 10, Outcomes: []codes.Code{codes.OK}}, "[5 3 1]"},
		{"outcomes OK and a failure", audit.Query{Limit: 10, Outcomes: []codes.Code{codes.PermissionDenied, codes.OK}}, "[5 4 3 2 1]"},
		{"outcome and client", audit.Query{Limit: 10, Client: "a", Outcomes: []codes.Code{codes.PermissionDenied}}, "[4]"},
		{"time: From inclusive, To exclusive", audit.Query{Limit: 10, From: T0.Add(time.Minute), To: T0.Add(3 * time.Minute)}, "[3 2]"},
		{"time: From only", audit.Query{Limit: 10, From: T0.Add(3 * time.Minute)}, "[5 4]"},
		{"time: To only", audit.Query{Limit: 10, To: T0.Add(time.Nanosecond)}, "[1]"},
		{"time: a nanosecond after", audit.Query{Limit: 10, From: T0.Add(4*time.Minute + time.Nanosecond)}, "[]"},
		{"rpc", audit.Query{Limit: 10, RPC: "/s.S/N"}, "[5]"},
		{"rpc none", audit.Query{Limit: 10, RPC: "/s.S/X"}, "[]"},
		{"everything at once", audit.Query{Limit: 10, Client: "a", RPC: "/s.S/M", Outcomes: []codes.Code{codes.OK},
			From: T0, To: T0.Add(time.Hour), BeforeID: 3}, "[1]"},
	}
	for _, tt := range tests {
		if got := ids(t, s, tt.q); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func testRoundTrip(t *testing.T, s audit.Store) {
	ctx := context.Background()
	in := audit.Event{
		Time:   time.Date(2026, 11, 23, 10, 19, 58, 238_000_123, time.FixedZone("CST", 8*3600)),
		Client: "dispatch", RPC: "/servicecenter.v1.WorkcardService/AssignWorker",
		Targets: []audit.Target{{Kind: "workcard", ID: "2345678"}, {Kind: "worker_mobile", ID: "132****8901"},
			{Kind: "service_store_code", ID: `门店 "7",\n`}},
		Outcome: codes.FailedPrecondition, TOPRequestID: "top-1", RequestID: "r-1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	if err := s.Record(ctx, in); err != nil {
		t.Fatal(err)
	}
	bare := audit.Event{Time: in.Time.Add(time.Second), RPC: "/s.S/M"}
	if err := s.Record(ctx, bare); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, audit.Query{Limit: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("%d events, %v", len(got), err)
	}
	out, outBare := got[1], got[0]
	if out.ID <= 0 || outBare.ID <= out.ID {
		t.Errorf("ids %d then %d: want positive and increasing", out.ID, outBare.ID)
	}
	if !out.Time.Equal(in.Time) || out.Client != in.Client || out.RPC != in.RPC || out.Outcome != in.Outcome ||
		out.TOPRequestID != in.TOPRequestID || out.RequestID != in.RequestID || out.TraceID != in.TraceID || fmt.Sprint(out.Targets) != fmt.Sprint(in.Targets) {
		t.Errorf("stored %+v\n    got %+v", in, out)
	}
	if !outBare.Time.Equal(bare.Time) || outBare.Client != "" || len(outBare.Targets) != 0 || outBare.Outcome != codes.OK {
		t.Errorf("bare event came back as %+v", outBare)
	}
	// The caller's slice is not the store's.
	got[1].Targets[0].ID = "changed"
	if again, _ := s.List(ctx, audit.Query{Limit: 10}); again[1].Targets[0].ID != "2345678" {
		t.Error("a listed event shares its targets with the store")
	}
}

func testPrune(t *testing.T, s audit.Store) {
	ctx := context.Background()
	record5(t, s)
	cut := T0.Add(2 * time.Minute) // events 1 and 2 are older
	for _, step := range []struct {
		limit, want int
		left        string
	}{
		{1, 1, "[5 4 3 2]"}, // the oldest first
		{10, 1, "[5 4 3]"},
		{10, 0, "[5 4 3]"}, // the event at the cut itself is kept
	} {
		n, err := s.Prune(ctx, cut, step.limit)
		if err != nil || n != step.want {
			t.Fatalf("Prune(limit %d) = %d, %v; want %d", step.limit, n, err, step.want)
		}
		if got := ids(t, s, audit.Query{Limit: 10}); got != step.left {
			t.Fatalf("after Prune(limit %d): %s, want %s", step.limit, got, step.left)
		}
	}
	// IDs are never reused, even when the newest events are pruned.
	if n, err := s.Prune(ctx, T0.Add(time.Hour), 10); err != nil || n != 3 {
		t.Fatalf("prune all: %d, %v", n, err)
	}
	if err := s.Record(ctx, audit.Event{Time: T0, RPC: "/s.S/M"}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, audit.Query{Limit: 10}); got != "[6]" {
		t.Fatalf("after pruning everything the next event is %s, want [6]", got)
	}
}

func testCanceled(t *testing.T, s audit.Store) {
	record5(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.List(ctx, audit.Query{Limit: 10}); err == nil {
		t.Error("List with a canceled context succeeded")
	}
	if _, err := s.Prune(ctx, T0.Add(time.Hour), 10); err == nil {
		t.Error("Prune with a canceled context succeeded")
	}
	if got := ids(t, s, audit.Query{Limit: 10}); got != "[5 4 3 2 1]" {
		t.Errorf("after canceled calls: %s", got)
	}
}

// testConcurrentRecords: events recorded at once are each stored once,
// with ids of their own.
func testConcurrentRecords(t *testing.T, s audit.Store) {
	const callers, each = 32, 20
	errs := make(chan error, callers*each)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				errs <- s.Record(context.Background(), audit.Event{Time: T0, Client: "c", RPC: "/s.S/M",
					RequestID: fmt.Sprintf("%d-%d", c, i), Outcome: codes.OK})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	events, err := s.List(context.Background(), audit.Query{Limit: callers * each * 2})
	if err != nil {
		t.Fatal(err)
	}
	ids, requests := map[int64]bool{}, map[string]bool{}
	for _, e := range events {
		ids[e.ID], requests[e.RequestID] = true, true
	}
	if len(events) != callers*each || len(ids) != callers*each || len(requests) != callers*each {
		t.Fatalf("%d events, %d ids, %d request ids; want %d each", len(events), len(ids), len(requests), callers*each)
	}
}
