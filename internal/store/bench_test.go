package store_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob/syncjobtest"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/store/storetest"
)

// The store operations that matter, on every backend side by side in one
// run:
//
//	go test ./internal/store -run '^$' -bench . -benchtime 3x
//	go test ./internal/store -run '^$' -bench Import -benchtime 1x -args -import-entries 1000000
var importEntries = flag.Int("import-entries", 100_000, "entries of BenchmarkImport's import")

// importBatch is how many entries syncjob hands AddImportEntries at once.
const importBatch = 4096

// peakHeap samples the live heap every millisecond until stop is called,
// which returns the largest sample in MiB.
func peakHeap() (stop func() float64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		return float64(peak.Load()) / (1 << 20)
	}
}

// stageAndCommit imports n distinct entries as syncjob does: batches of
// importBatch, built one at a time.
func stageAndCommit(b *testing.B, s store.Store, id string, n int) syncjob.Job {
	ctx := context.Background()
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: id, SupplierID: syncjobtest.Supplier, OperateType: 1, ServiceType: 1, AbilityType: 1, ChunkSize: 100, Created: syncjobtest.T0}); err != nil {
		b.Fatal(err)
	}
	batch := make([]syncjob.Entry, 0, importBatch)
	for start := 0; start < n; start += importBatch {
		batch = batch[:0]
		for i := start; i < min(n, start+importBatch); i++ {
			batch = append(batch, syncjob.Entry{Pos: int64(i), Mobile: fmt.Sprintf("13%09d", i), Reasons: 1 << 1})
		}
		if err := s.AddImportEntries(ctx, id, batch); err != nil {
			b.Fatal(err)
		}
	}
	j, err := s.CommitImport(ctx, id, syncjob.ImportCounts{Received: int64(n)}, syncjobtest.T0)
	if err != nil || j.Total != int64(n) {
		b.Fatal(j, err)
	}
	return j
}

// BenchmarkImport imports -import-entries entries (100,000 by default)
// per op and reports entries/s and the peak live heap of the process.
func BenchmarkImport(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.Open(b)
			runtime.GC()
			stop := peakHeap()
			i := 0
			for b.Loop() {
				stageAndCommit(b, s, fmt.Sprintf("bj-%d", i), *importEntries)
				i++
			}
			peak := stop()
			b.ReportMetric(float64(*importEntries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(peak, "peak-heap-MiB")
		})
	}
}

// BenchmarkChunk is one chunk's store work as the delivery worker does it
// (BeginChunk, ChunkEntries, FinishChunk), alone and with 8 chunks at
// once (2 jobs x 4 chunks in flight, the defaults, twice over).
func BenchmarkChunk(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.Open(b)
			job := stageAndCommit(b, s, "bj-chunks", 200_000) // 2,000 chunks of 100
			var next atomic.Int64
			work := func(b *testing.B, dst []syncjob.Entry) []syncjob.Entry {
				ctx := context.Background()
				n := next.Add(1) - 1
				if n >= job.Chunks {
					b.Fatalf("out of chunks: run with -benchtime of at most %dx", job.Chunks/2)
				}
				if _, err := s.BeginChunk(ctx, job.ID, n, syncjobtest.T0); err != nil {
					b.Fatal(err)
				}
				dst, err := s.ChunkEntries(ctx, job.ID, n, dst[:0])
				if err != nil || len(dst) != 100 {
					b.Fatal(len(dst), err)
				}
				if _, err := s.FinishChunk(ctx, job.ID, n, syncjob.ChunkResult{State: syncjob.ChunkAcknowledged, Time: syncjobtest.T0}); err != nil {
					b.Fatal(err)
				}
				return dst
			}
			b.Run("serial", func(b *testing.B) {
				dst := make([]syncjob.Entry, 0, 100)
				for b.Loop() {
					dst = work(b, dst)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
			})
			b.Run("8-at-once", func(b *testing.B) {
				b.SetParallelism(4) // 8 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					dst := make([]syncjob.Entry, 0, 100)
					for pb.Next() {
						dst = work(b, dst)
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
			})
		})
	}
}

var benchEvent = audit.Event{Time: syncjobtest.T0, Client: "dispatch", RPC: "/servicecenter.v1.WorkcardService/AssignWorker",
	Targets: []audit.Target{{Kind: "workcard", ID: "2345678"}, {Kind: "worker_mobile", ID: "132****8901"}},
	Outcome: codes.OK, TOPRequestID: "top-1", RequestID: "90e9c530c8b72df592c98577bf88d57e"}

// BenchmarkAuditRecord is the cost an audited call pays for its durable
// event: one caller alone, and 64 at once, whose events share commits.
func BenchmarkAuditRecord(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.Open(b)
			b.Run("1-caller", func(b *testing.B) {
				for b.Loop() {
					if err := s.Record(context.Background(), benchEvent); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("64-callers", func(b *testing.B) {
				b.SetParallelism(32) // 64 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.Record(context.Background(), benchEvent); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// fillAudit writes n events one second apart over 10 clients, 6 RPCs and
// 3 outcomes, in the database directly.
func fillAudit(b *testing.B, s store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	var err error
	switch s := s.(type) {
	case *sqlite.Store:
		_, err = s.DB().ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?)
			INSERT INTO audit_events (time_ns, client, rpc, targets, outcome, request_id)
			SELECT ? + n * 1000000000, 'client-' || (n % 10), '/s.S/M' || (n % 6),
				'[{"kind":"workcard","id":"2345678"},{"kind":"worker_mobile","id":"132****8901"}]', CASE n % 3 WHEN 0 THEN 0 WHEN 1 THEN 5 ELSE 7 END, 'r' FROM i`,
			n, syncjobtest.T0.UnixNano())
	case *postgres.Store:
		_, err = s.Pool().Exec(ctx, `INSERT INTO audit_events (time_ns, client, rpc, targets, outcome, request_id)
			SELECT $2::bigint + n * 1000000000, 'client-' || (n % 10), '/s.S/M' || (n % 6),
				'[{"kind":"workcard","id":"2345678"},{"kind":"worker_mobile","id":"132****8901"}]', (ARRAY[0, 5, 7])[n % 3 + 1], 'r'
			FROM generate_series(0, $1::bigint - 1) AS n`, n, syncjobtest.T0.UnixNano())
		if err == nil {
			_, err = s.Pool().Exec(ctx, "ANALYZE audit_events")
		}
	default:
		b.Fatalf("no fill for %T", s)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAuditPage reads one page of 100 from a trail of 200,000
// events, as ListAuditEvents does.
func BenchmarkAuditPage(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.Open(b)
			fillAudit(b, s, 200_000)
			for _, bm := range []struct {
				name string
				q    audit.Query
			}{
				{"newest", audit.Query{Limit: 100}},
				{"client", audit.Query{Limit: 100, Client: "client-3"}},
				{"client+outcome+deep", audit.Query{Limit: 100, Client: "client-3", Outcomes: []codes.Code{codes.PermissionDenied}, BeforeID: 20_000}},
				{"time-range-10k", audit.Query{Limit: 100, From: syncjobtest.T0.Add(50_000 * time.Second), To: syncjobtest.T0.Add(60_000 * time.Second)}},
				{"rare-rpc", audit.Query{Limit: 100, RPC: "/s.S/M5", BeforeID: 1000}},
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
		})
	}
}
