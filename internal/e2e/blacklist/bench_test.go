//go:build blacklistbench

package blacklist

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgtest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// TestBenchBlacklist is `make bench-blacklist`: for each size (BENCH_SIZES,
// default 100000,1000000) it writes a CSV file, imports it with
// `servicecenterd blacklist import --no-wait` into a real servicecenterd
// (default settings, its store in a fresh temp dir) against an in-memory
// emulator in this process, waits for the job to succeed, checks that
// every entry was applied exactly once, and reports entries per second of
// the import and of the sync, and the server's peak RSS (VmHWM). For each
// store of BENCH_STORES (default sqlite; sqlite,postgres compares them in
// one run: PostgreSQL in a database of its own, pgtest) it does so again.
// BENCH_PROFILE=dir runs the server with --pprof and writes a CPU profile
// of the first BENCH_PROFILE_SECONDS (default 10) of each sync to
// dir/<store>-<entries>.cpu.pprof (the numbers are then perturbed).
// BENCH_BINARIES=label=path,... compares builds of servicecenterd in one
// run (for example before=/tmp/old,after=/tmp/new), each store and size
// with each, alternating; without it, the tree's build is measured.
func TestBenchBlacklist(t *testing.T) {
	sizes := []int{100_000, 1_000_000}
	if s := os.Getenv("BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				t.Fatalf("BENCH_SIZES: %q", f)
			}
			sizes = append(sizes, n)
		}
	}
	stores := []string{"sqlite"}
	if s := os.Getenv("BENCH_STORES"); s != "" {
		stores = strings.Split(s, ",")
		for _, st := range stores {
			if st != "sqlite" && st != "postgres" {
				t.Fatalf("BENCH_STORES: %q: want sqlite or postgres", st)
			}
		}
	}
	type binary struct{ label, path string }
	bins := []binary{{"", ""}}
	if s := os.Getenv("BENCH_BINARIES"); s != "" {
		bins = nil
		for _, f := range strings.Split(s, ",") {
			label, path, ok := strings.Cut(f, "=")
			if !ok || label == "" || path == "" {
				t.Fatalf("BENCH_BINARIES: %q: want label=path", f)
			}
			bins = append(bins, binary{label, path})
		}
	} else {
		bins[0].path = testserver.Binary(t)
	}
	type row struct {
		binary                string
		store                 string
		n                     int
		importDur, syncDur    time.Duration
		rssImport, rssTotal   int64
		fileBytes, storeBytes int64
	}
	var rows []row
	for _, store := range stores {
		for _, n := range sizes {
			for _, bin := range bins {
				r := row{binary: bin.label, store: store, n: n}
				dir := t.TempDir()
				file := filepath.Join(dir, "blacklist.csv")
				r.fileBytes = writeCSV(t, file, n)
				e := testserver.StartEmulator(t, topemu.Config{MaxRecordedCalls: -1})
				flags := strings.Fields(os.Getenv("BENCH_SERVE_FLAGS"))
				var dbURL string
				if store == "postgres" {
					dbURL = pgtest.NewDatabase(t)
					flags = append(flags, "--database-url", dbURL)
				}
				profileDir := os.Getenv("BENCH_PROFILE")
				if profileDir != "" {
					flags = append(flags, "--pprof=true")
				}
				p := startProcess(t, bin.path, e, filepath.Join(dir, "data"), flags...)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)

				start := time.Now()
				out, err := exec.CommandContext(ctx, bin.path, "blacklist", "import", file, "--supplier-id", "10000000001", "--no-wait", "--addr", p.GRPCAddr).CombinedOutput()
				r.importDur = time.Since(start)
				if err != nil {
					t.Fatalf("import of %d: %v\n%s", n, err, out)
				}
				m := regexp.MustCompile(`job (bj-[a-z0-9]+) queued`).FindSubmatch(out)
				if m == nil {
					t.Fatalf("no job id in %s", out)
				}
				r.rssImport = p.PeakRSS(t)

				start = time.Now()
				profiled := make(chan error, 1)
				if profileDir != "" {
					go func() {
						profiled <- cpuProfile(ctx, "http://"+p.HTTPAddr, filepath.Join(profileDir, strings.TrimPrefix(fmt.Sprintf("%s-%s-%d.cpu.pprof", bin.label, store, n), "-")))
					}()
				} else {
					profiled <- nil
				}
				j := waitJob(ctx, t, p.Logistics, string(m[1]))
				r.syncDur = time.Since(start)
				if err := <-profiled; err != nil {
					t.Errorf("CPU profile: %v", err)
				}
				r.rssTotal = p.PeakRSS(t)
				cancel()
				if j.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED || j.GetAcknowledgedCount() != int64(n) {
					t.Fatalf("job of %d: %v", n, j)
				}
				b := e.Stats().Blacklist
				if b.EntriesApplied != int64(n) || b.MobilesApplied != n || b.MaxAppliesPerMobile != 1 {
					t.Fatalf("emulator for %d: %+v", n, b)
				}
				p.Stop(t)
				if store == "postgres" {
					r.storeBytes = pgSize(t, dbURL)
				} else {
					r.storeBytes = dirSize(t, filepath.Join(dir, "data"))
				}
				rows = append(rows, r)
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nbulk blacklist sync: servicecenterd (default settings: chunks of 100, 2 jobs × 4 chunks in flight = 8 River workers) against the in-memory emulator, %s\n\n", cpuInfo())
	fmt.Fprintf(&b, "| build | store | entries | CSV | import (CLI → store) | import entries/s | sync (store → TOP) | sync entries/s | peak RSS after import | peak RSS overall | store on disk |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %.0f | %s | %.0f | %s | %s | %s |\n", cmp.Or(r.binary, "this tree"), r.store, r.n, mib(r.fileBytes),
			r.importDur.Round(10*time.Millisecond), float64(r.n)/r.importDur.Seconds(),
			r.syncDur.Round(10*time.Millisecond), float64(r.n)/r.syncDur.Seconds(),
			mib(r.rssImport), mib(r.rssTotal), mib(r.storeBytes))
	}
	fmt.Print(b.String())
}

// cpuProfile writes a CPU profile of the server at base to path.
func cpuProfile(ctx context.Context, base, path string) error {
	sec := os.Getenv("BENCH_PROFILE_SECONDS")
	if sec == "" {
		sec = "10"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/profile?seconds="+sec, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pgSize is the size of the PostgreSQL database at url.
func pgSize(t *testing.T, url string) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func writeCSV(t *testing.T, path string, n int) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("mobile,reason\n")
	for i := range n {
		fmt.Fprintf(w, "%s,%d\n", testserver.GeneratedMobile(i), 1+i%5)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.Close()
	return fi.Size()
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			total += fi.Size()
		}
	}
	return total
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func cpuInfo() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	model, cpus := "", 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "processor") {
			cpus++
		}
		if v, ok := strings.CutPrefix(line, "model name"); ok && model == "" {
			model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return fmt.Sprintf("%d × %s", cpus, model)
}
