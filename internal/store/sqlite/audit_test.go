package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/audit"
)

// TestAuditQueriesUseIndexes: each filter of ListAuditEvents and the
// prune read audit_events through an index, never by scanning the table.
func TestAuditQueriesUseIndexes(t *testing.T) {
	s := openTest(t)
	tests := []struct {
		name, where, index string
		args               []any
	}{
		{"page", "id < ?", "PRIMARY KEY", []any{10}},
		{"client", "client = ? AND id < ?", "audit_events_client", []any{"ops", 10}},
		{"rpc", "rpc = ?", "audit_events_rpc", []any{"/s.S/M"}},
		{"failures", "outcome IN (?, ?) AND outcome != 0", "audit_events_failures", []any{7, 5}},
		{"time", "time_ns >= ? AND time_ns < ?", "audit_events_time", []any{1, 2}},
	}
	for _, tt := range tests {
		plan := queryPlan(t, s, "SELECT id FROM audit_events WHERE "+tt.where+" ORDER BY id DESC LIMIT 100", tt.args...)
		if !strings.HasPrefix(plan, "SEARCH audit_events USING") || !strings.Contains(plan, tt.index) {
			t.Errorf("%s: plan %q, want %s", tt.name, plan, tt.index)
		}
	}
	// OK events (most of the trail) have no outcome index: the table is
	// read newest first, and a page fills as soon as it holds Limit.
	if plan := queryPlan(t, s, "SELECT id FROM audit_events WHERE outcome IN (?) ORDER BY id DESC LIMIT 100", 0); !strings.HasPrefix(plan, "SCAN audit_events") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("OK: plan %q, want the table in id order", plan)
	}
	plan := queryPlan(t, s, "SELECT id FROM audit_events WHERE time_ns < ? ORDER BY time_ns LIMIT ?", 1, 1000)
	if !strings.Contains(plan, "audit_events_time") {
		t.Errorf("prune: plan %q, want the time index", plan)
	}
}

func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.r.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	return b.String()
}

// fillAudit records n events one second apart, over 10 clients, 6 RPCs
// and 3 outcomes, in transactions of 1000.
func fillAudit(b testing.TB, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	for start := 0; start < n; start += 1000 {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := start; i < min(n, start+1000); i++ {
			if _, err := tx.Exec(`INSERT INTO audit_events (time_ns, client, rpc, targets, outcome, request_id) VALUES (?, ?, ?, ?, ?, ?)`,
				t0.Add(time.Duration(i)*time.Second).UnixNano(), fmt.Sprint("client-", i%10), fmt.Sprint("/s.S/M", i%6),
				`[{"kind":"workcard","id":"2345678"},{"kind":"worker_mobile","id":"132****8901"}]`, []int{0, 5, 7}[i%3], "r"); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCommitAuditGroups: a group of any size is inserted whole, by the
// 64-, 16-, 4- and 1-row INSERTs together, its rows in the order given
// (ids follow it) and each column where it belongs.
func TestCommitAuditGroups(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 21, 63, 64, 65, 85, 256} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := openTest(t)
			rows := make([]auditRow, n)
			for i := range rows {
				rows[i] = auditRow{timeNS: int64(1000 + i), client: fmt.Sprint("c", i), rpc: fmt.Sprint("/s.S/M", i%3),
					targets: fmt.Sprintf(`[{"kind":"k","id":"%d"}]`, i), outcome: int64(i % 17),
					topRequestID: fmt.Sprint("top", i), requestID: fmt.Sprint("req", i), traceID: fmt.Sprint("trace", i)}
			}
			if err := commitAudit(s.w, rows); err != nil {
				t.Fatal(err)
			}
			evs, err := s.List(context.Background(), audit.Query{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != n {
				t.Fatalf("%d events, want %d", len(evs), n)
			}
			for i, e := range evs {
				r := rows[n-1-i] // newest first
				want := audit.Event{ID: int64(n - i), Time: time.Unix(0, r.timeNS).UTC(), Client: r.client, RPC: r.rpc,
					Targets: []audit.Target{{Kind: "k", ID: fmt.Sprint(n - 1 - i)}}, Outcome: codes.Code(r.outcome),
					TOPRequestID: r.topRequestID, RequestID: r.requestID, TraceID: r.traceID}
				if fmt.Sprint(e) != fmt.Sprint(want) {
					t.Fatalf("event %d = %+v, want %+v", i, e, want)
				}
			}
		})
	}
}

// TestCommitAuditGroupFails: a group is committed whole or not at all,
// also when SQLite itself ends the transaction (INSERT OR ROLLBACK, or a
// trigger's RAISE) in a later statement of the group, and the writer's
// connection commits the next group as if nothing happened.
func TestCommitAuditGroupFails(t *testing.T) {
	for _, raise := range []string{"ROLLBACK", "ABORT", "FAIL"} {
		t.Run(raise, func(t *testing.T) {
			s := openTest(t)
			// Temporary objects belong to the connection: the store's
			// one write connection.
			if _, err := s.w.Exec(`CREATE TEMP TRIGGER boom BEFORE INSERT ON main.audit_events WHEN NEW.client = 'boom'
				BEGIN SELECT RAISE(` + raise + `, 'boom'); END`); err != nil {
				t.Fatal(err)
			}
			group := func(n, bad int) []auditRow {
				rows := make([]auditRow, n)
				for i := range rows {
					rows[i] = auditRow{timeNS: int64(i), client: "ok", rpc: "/s.S/M", targets: "[]"}
				}
				if bad >= 0 {
					rows[bad].client = "boom"
				}
				return rows
			}
			// 21 rows: the 16-row INSERT, then the 4-row one fails.
			if err := commitAudit(s.w, group(21, 18)); err == nil || !strings.Contains(err.Error(), "boom") {
				t.Fatalf("commit of a failing group = %v, want boom", err)
			}
			if err := commitAudit(s.w, group(1, 0)); err == nil {
				t.Fatal("commit of a failing event succeeded")
			}
			if err := commitAudit(s.w, group(5, -1)); err != nil {
				t.Fatalf("commit after failures: %v", err)
			}
			evs, err := s.List(context.Background(), audit.Query{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			if fmt.Sprint(ids) != "[5 4 3 2 1]" {
				t.Fatalf("ids %v, want only the last group's, [5 4 3 2 1]", ids)
			}
		})
	}
}

// BenchmarkAuditRecord is the cost an audited call pays for its durable
// event (one INSERT commit, synchronous=NORMAL).
func BenchmarkAuditRecord(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir()+"/"+FileName)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := audit.Event{Time: t0, Client: "dispatch", RPC: "/servicecenter.v1.WorkcardService/AssignWorker",
		Targets: []audit.Target{{Kind: "workcard", ID: "2345678"}, {Kind: "worker_mobile", ID: "132****8901"}},
		Outcome: codes.OK, TOPRequestID: "top-1", RequestID: "90e9c530c8b72df592c98577bf88d57e"}
	defer reportCPU(b)()
	for b.Loop() {
		if err := s.Record(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditList reads one page of 100 from a trail of 200,000
// events.
func BenchmarkAuditList(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir()+"/"+FileName)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillAudit(b, s, 200_000)
	for _, bm := range []struct {
		name string
		q    audit.Query
	}{
		{"newest", audit.Query{Limit: 100}},
		{"client", audit.Query{Limit: 100, Client: "client-3"}},
		{"client+outcome+deep page", audit.Query{Limit: 100, Client: "client-3", Outcomes: []codes.Code{codes.PermissionDenied}, BeforeID: 20_000}},
		{"time range of 10,000", audit.Query{Limit: 100, From: t0.Add(50_000 * time.Second), To: t0.Add(60_000 * time.Second)}},
		{"time range of everything", audit.Query{Limit: 100, From: t0, To: t0.Add(time.Hour * 24 * 365)}},
		{"rare rpc", audit.Query{Limit: 100, RPC: "/s.S/M5", BeforeID: 1000}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				evs, err := s.List(context.Background(), bm.q)
				if err != nil || len(evs) == 0 {
					b.Fatal(len(evs), err)
				}
			}
		})
	}
}

// BenchmarkAuditPrune deletes batches of 1000 events (the retention's
// batch): how long a writer may wait behind one.
func BenchmarkAuditPrune(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir()+"/"+FileName)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const fill = 50_000
	cut := t0.Add(fill * time.Second)
	left := 0
	for range b.N {
		if left == 0 {
			b.StopTimer()
			fillAudit(b, s, fill)
			left = fill / audit.DefaultPruneBatch
			b.StartTimer()
		}
		if n, err := s.Prune(context.Background(), cut, audit.DefaultPruneBatch); err != nil || n != audit.DefaultPruneBatch {
			b.Fatal(n, err)
		}
		left--
	}
}

// BenchmarkAuditRecordParallel is BenchmarkAuditRecord with 64 audited
// calls at once, as under load: their events share commits.
func BenchmarkAuditRecordParallel(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir()+"/"+FileName)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := audit.Event{Time: t0, Client: "dispatch", RPC: "/servicecenter.v1.WorkcardService/AssignWorker",
		Targets: []audit.Target{{Kind: "workcard", ID: "2345678"}, {Kind: "worker_mobile", ID: "132****8901"}},
		Outcome: codes.OK, TOPRequestID: "top-1", RequestID: "90e9c530c8b72df592c98577bf88d57e"}
	b.SetParallelism(32) // 64 goroutines on 2 cores
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Record(context.Background(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCommitAudit is the audit writer's commit of one group of n
// events, per event: what an event costs as groups grow (each commit
// appends the pages it changed to the WAL, whatever its rows).
func BenchmarkCommitAudit(b *testing.B) {
	for _, n := range []int{1, 2, 4, 8, 16, 64} {
		b.Run(fmt.Sprintf("group-%d", n), func(b *testing.B) {
			s, err := Open(context.Background(), b.TempDir()+"/"+FileName)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rows := make([]auditRow, n)
			for i := range rows {
				rows[i] = auditRow{timeNS: t0.UnixNano(), client: "dispatch", rpc: "/servicecenter.v1.WorkcardService/AssignWorker",
					targets: `[{"kind":"workcard","id":"2345678"},{"kind":"worker_mobile","id":"132****8901"}]`, topRequestID: "top-1", requestID: "90e9c530c8b72df592c98577bf88d57e"}
			}
			defer reportCPU(b)()
			for b.Loop() {
				if err := commitAudit(s.w, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
