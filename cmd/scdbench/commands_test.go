package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/servicecenterd/servicecenterd/internal/bench/load"
	"github.com/servicecenterd/servicecenterd/internal/bench/report"
	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgtest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/redistest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/sqlitetest"
)

// childEnv makes the test binary one of the benchmark's child processes
// (see TestMain), so that tests run the real run command, children and
// all, without building binaries.
const childEnv = "SCDBENCH_TEST_AS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runAsChild(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// runAsChild is the test binary as a child process of the benchmark:
// `serve ...` is servicecenterd's serve command (the code the
// servicecenterd binary runs), anything else scdbench's subcommands.
func runAsChild(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(args) > 0 && args[0] == "serve" {
		err = server.RunCommand(ctx, args[1:], os.Stdout, os.Stderr)
	} else {
		err = run(ctx, args, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(options) bool
	}{
		{"defaults", []string{"-servicecenterd", "/bin/scd"}, "", func(o options) bool {
			return o.duration == 8*time.Second && len(o.concurrencies) == 4 && len(o.targets) == 6 && len(o.methods) == 2 &&
				o.rounds == 1 && o.replicaRate == 100000 && o.pgURL != "" && o.redisURL != ""
		}},
		{"rounds and the replica's servers", []string{"-servicecenterd", "x", "-rounds", "5", "-targets", "e,f",
			"-pg-url", "postgres://u@h/db", "-redis-url", "redis://h:1/2"}, "", func(o options) bool {
			return o.rounds == 5 && o.targets[1] == "f" && o.pgURL == "postgres://u@h/db" && o.redisURL == "redis://h:1/2"
		}},
		{"no rounds", []string{"-servicecenterd", "x", "-rounds", "0"}, "-rounds must be at least 1", nil},
		{"lists", []string{"-servicecenterd", "x", "-concurrency", "1, 64,64", "-targets", "a,b", "-methods", "AssignWorker"}, "", func(o options) bool {
			return len(o.concurrencies) == 2 && o.concurrencies[1] == 64 && len(o.targets) == 2 && o.methods[0] == MethodAssignWorker
		}},
		{"profile needs no binary", []string{"-profile"}, "", func(o options) bool { return o.profile }},
		{"binary required", nil, "-servicecenterd is required", nil},
		{"bad concurrency", []string{"-servicecenterd", "x", "-concurrency", "0"}, "-concurrency", nil},
		{"bad target", []string{"-servicecenterd", "x", "-targets", "g"}, `unknown target "g"`, nil},
		{"bad method", []string{"-servicecenterd", "x", "-methods", "Nope"}, `unknown method "Nope"`, nil},
		{"stray argument", []string{"-servicecenterd", "x", "extra"}, "unexpected arguments", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(o) {
				t.Fatalf("options %+v, err %v", o, err)
			}
		})
	}
}

func TestWriteResults(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "docs", "performance.md")
	if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(doc, []byte("# Perf\n"+report.BeginMarker+"\n"+report.EndMarker+"\nkept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bench", "results", "2026-11-23")
	if err := ensureDir(out); err != nil {
		t.Fatal(err)
	}
	rep := &report.Report{Settings: report.Settings{Methods: []string{"GetWorkerTags"}},
		Points: []report.Point{{Target: "a", Method: "GetWorkerTags", Concurrency: 1, Requests: 10, RPS: 100}}}
	if err := writeResults(rep, out, doc); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"results.md", "results.json", "chart.svg"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	b, _ := os.ReadFile(doc)
	for _, want := range []string{"](../bench/results/2026-11-23/chart.svg)", "#### Points", "\nkept\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("doc lacks %q:\n%s", want, b)
		}
	}
}

// TestCallersAgainstServicecenterd runs the generator's gRPC and REST
// callers against a real servicecenterd with its embedded emulator: every
// request the benchmark sends succeeds. Each caller is warmed up with one
// call (the first call to a fresh server is slow under -race), and each
// window ends after a number of calls, not after a time a loaded machine
// can fill with nothing.
func TestCallersAgainstServicecenterd(t *testing.T) {
	var cfg server.Config
	if err := config.Defaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Listen.GRPCAddr, cfg.Listen.HTTPAddr, cfg.Emulator.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	// A migrated store to start from, and no drain delay when it stops:
	// the test is about the callers.
	cfg.Store.DataDir = t.TempDir()
	sqlitetest.Seed(t, filepath.Join(cfg.Store.DataDir, sqlite.FileName))
	cfg.Process.DrainDelay = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	g, err := dialGRPC(s.GRPCAddr(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	r := newRESTCaller(s.HTTPAddr(), 2)
	defer r.close()
	for _, m := range []string{MethodGetWorkerTags, MethodAssignWorker} {
		gc, err := g.call(m)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := r.call(m, 2)
		if err != nil {
			t.Fatal(err)
		}
		for proto, call := range map[string]load.CallFunc{"grpc": gc, "rest": rc} {
			const calls = 20
			rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
			err := call(rctx, 0)
			var res load.Result
			if err == nil {
				res, err = load.Run(rctx, load.Config{Concurrency: 2, Duration: time.Millisecond, MinCalls: calls, Call: call})
			}
			rcancel()
			if err != nil || res.Requests < calls || res.Errors != 0 {
				t.Errorf("%s %s: %d requests, %d errors (%s), %v; want at least %d requests and no error",
					proto, m, res.Requests, res.Errors, res.FirstError, err, calls)
			}
		}
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name string
		o    options
		want string
	}{
		{"defaults", options{rounds: 5, duration: 5 * time.Second, warmup: time.Second, concurrencies: []int{64},
			targets: strings.Split(defaultTargets, ","), methods: strings.Split(defaultMethods, ",")},
			"make bench BENCH_ROUNDS=5 BENCH_DURATION=5s BENCH_WARMUP=1s BENCH_CONCURRENCY=64"},
		{"knobs", options{rounds: 1, duration: 10 * time.Second, warmup: 2 * time.Second, concurrencies: []int{1, 16},
			targets: []string{"a", "b"}, methods: []string{MethodAssignWorker}, scdEnv: []string{"GOGC=100"}},
			"make bench BENCH_ROUNDS=1 BENCH_DURATION=10s BENCH_WARMUP=2s BENCH_CONCURRENCY=1,16 BENCH_TARGETS=a,b " +
				"BENCH_METHODS=AssignWorker BENCH_FLAGS='-scd-env GOGC=100'"},
	}
	for _, tt := range tests {
		if got := commandLine(tt.o); got != tt.want {
			t.Errorf("%s: commandLine = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMetricValue(t *testing.T) {
	text := []byte("# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 312\n" +
		"go_goroutines_other 7\ngo_threads 9\nprocess_resident_memory_bytes 4.5e+07\n")
	tests := []struct {
		name string
		want float64
		ok   bool
	}{
		{"go_goroutines", 312, true},
		{"go_threads", 9, true},
		{"process_resident_memory_bytes", 45e6, true},
		{"go_gc_duration_seconds", 0, false},
	}
	for _, tt := range tests {
		if got, ok := metricValue(text, tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("metricValue(%s) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// readReport reads the results.json a run wrote under out.
func readReport(t *testing.T, out string) report.Report {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(out, "*", "results.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("results.json under %s: %v, %v", out, files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRunReplicaTargets runs the benchmark's targets e and f for real:
// servicecenterd (this test binary as its serve command) on a database
// the run creates on the PostgreSQL server and under a Redis prefix of
// its own, with the shared quota in Redis. Every call succeeds, the
// footprint is read, and the database and the keys are gone afterwards.
// It needs PostgreSQL and Redis (it fails without them under CI).
func TestRunReplicaTargets(t *testing.T) {
	admin := pgtest.Admin(t)
	rdb := redistest.Client(t)
	t.Setenv(childEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = runBench(ctx, []string{"-servicecenterd", exe, "-targets", "e,f", "-concurrency", "4", "-rounds", "1",
		"-duration", "500ms", "-warmup", "100ms", "-out", out, "-pg-url", pgtest.ServerURL(), "-redis-url", redistest.URL()},
		io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := readReport(t, out)
	if len(r.Points) != 4 {
		t.Fatalf("%d points, want e and f for both methods: %+v", len(r.Points), r.Points)
	}
	for _, p := range r.Points {
		if p.Requests == 0 || p.Errors != 0 || p.CPUPer1k <= 0 {
			t.Errorf("point %s %s: %d requests, %d errors (%s), CPU %v", p.Target, p.Method, p.Requests, p.Errors, p.FirstError, p.CPUPer1k)
		}
	}
	rep := r.Replica
	// The shared quota's key (GCRA's theoretical arrival time) lives a
	// second after the last TOP call: seen after the points, it shows
	// that the calls took their turns in Redis.
	if rep == nil || rep.QuotaBackend != "redis" || !rep.Dropped || !slices.Contains(rep.RedisKeysSeen, "{"+benchAppKey+"}:quota") ||
		!strings.HasPrefix(rep.Database, dbPrefix) || !strings.HasPrefix(rep.RedisPrefix, redisPrefix) {
		t.Fatalf("replica %+v: want the quota in Redis (its key seen), the database dropped", rep)
	}
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", rep.Database).Scan(&n); err != nil || n != 0 {
		t.Errorf("database %s: %d left, %v", rep.Database, n, err)
	}
	if keys, err := rdb.Keys(ctx, rep.RedisPrefix+"*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("keys under %s left: %v, %v", rep.RedisPrefix, keys, err)
	}
	if len(r.Footprints) != 1 || r.Footprints[0].Start.Goroutines == 0 || r.Footprints[0].End.RSSMiB <= 0 ||
		!slices.Equal(r.Footprints[0].Targets, []string{"e", "f"}) {
		t.Errorf("footprints %+v", r.Footprints)
	}
}

// TestRunWithoutPostgreSQL: when PostgreSQL cannot be reached, the run
// measures the other targets and says so in the report; when only e and
// f were asked for, it fails.
func TestRunWithoutPostgreSQL(t *testing.T) {
	t.Setenv(childEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	closed, err := freeAddrs(1) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	pgURL := "postgres://postgres@" + closed[0] + "/postgres?sslmode=disable&connect_timeout=2"
	args := func(targets, out string) []string {
		return []string{"-servicecenterd", exe, "-targets", targets, "-methods", MethodGetWorkerTags, "-concurrency", "2",
			"-duration", "200ms", "-warmup", "0s", "-out", out, "-pg-url", pgURL}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := t.TempDir()
	if err := runBench(ctx, args("a,e,f", out), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	r := readReport(t, out)
	if len(r.Points) != 1 || r.Points[0].Target != "a" || r.Replica != nil || len(r.Notes) != 1 ||
		!strings.Contains(r.Notes[0], "e and f") || !strings.Contains(r.Notes[0], "NOT measured") || !strings.Contains(r.Notes[0], closed[0]) {
		t.Fatalf("points %+v, notes %q", r.Points, r.Notes)
	}
	if err := runBench(ctx, args("e", t.TempDir()), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "NOT measured") {
		t.Fatalf("only e, PostgreSQL unreachable: %v", err)
	}
}
