package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/servicecenterd/servicecenterd/internal/bench/load"
	"github.com/servicecenterd/servicecenterd/internal/bench/report"
	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(options) bool
	}{
		{"defaults", []string{"-servicecenterd", "/bin/scd"}, "", func(o options) bool {
			return o.duration == 8*time.Second && len(o.concurrencies) == 4 && len(o.targets) == 4 && len(o.methods) == 2
		}},
		{"lists", []string{"-servicecenterd", "x", "-concurrency", "1, 64,64", "-targets", "a,b", "-methods", "AssignWorker"}, "", func(o options) bool {
			return len(o.concurrencies) == 2 && o.concurrencies[1] == 64 && len(o.targets) == 2 && o.methods[0] == MethodAssignWorker
		}},
		{"profile needs no binary", []string{"-profile"}, "", func(o options) bool { return o.profile }},
		{"binary required", nil, "-servicecenterd is required", nil},
		{"bad concurrency", []string{"-servicecenterd", "x", "-concurrency", "0"}, "-concurrency", nil},
		{"bad target", []string{"-servicecenterd", "x", "-targets", "e"}, `unknown target "e"`, nil},
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
	cfg.Store.DataDir = t.TempDir()
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
	o := options{duration: 10 * time.Second, warmup: 2 * time.Second, concurrencies: []int{1, 16}}
	if got := commandLine(o); got != "make bench BENCH_DURATION=10s BENCH_WARMUP=2s BENCH_CONCURRENCY=1,16" {
		t.Errorf("commandLine = %q", got)
	}
}
