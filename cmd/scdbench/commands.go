package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/servicecenterd/servicecenterd/internal/bench/floor"
	"github.com/servicecenterd/servicecenterd/internal/bench/report"
	"github.com/servicecenterd/servicecenterd/internal/server"
)

const usage = `Usage: scdbench <command> [flags]

Commands:
  run              run the benchmark (the default; scdbench run -h)
  upstream         serve the fixed TOP upstream (-addr)
  floor            serve the floor gRPC server (-addr, -upstream)
  servicecenterd   run 'servicecenterd serve' in this process with a pprof
                   listener (-pprof-addr ADDR -- serve flags), for profiles
`

// run dispatches to a subcommand by its name in args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runBench(ctx, args, stdout, stderr)
	}
	switch args[0] {
	case "run":
		return runBench(ctx, args[1:], stdout, stderr)
	case "upstream":
		return runUpstream(ctx, args[1:], stderr)
	case "floor":
		return runFloor(ctx, args[1:], stderr)
	case "servicecenterd":
		return runProfiledServer(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// serveHTTP serves h on addr until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// pprofHandler serves net/http/pprof's endpoints under /debug/pprof/.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}

func runUpstream(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("scdbench upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8800", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serveHTTP(ctx, *addr, floor.NewUpstream())
}

func runFloor(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("scdbench floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9190", "gRPC listen address")
	upstream := fs.String("upstream", "http://127.0.0.1:8800/router/rest", "the fixed upstream's URL")
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof on this address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	f := floor.NewFloor(*upstream)
	defer f.Close()
	srv := grpc.NewServer()
	f.Register(srv)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(lis) })
	if *pprofAddr != "" {
		g.Go(func() error { return serveHTTP(gctx, *pprofAddr, pprofHandler()) })
	}
	g.Go(func() error {
		<-gctx.Done()
		srv.Stop()
		return nil
	})
	return g.Wait()
}

// runProfiledServer is `servicecenterd serve` (the same code, through
// server.RunCommand) with net/http/pprof on -pprof-addr.
func runProfiledServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scdbench servicecenterd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pprofAddr := fs.String("pprof-addr", "127.0.0.1:6060", "serve net/http/pprof on this address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(gctx, *pprofAddr, pprofHandler()) })
	g.Go(func() error {
		err := server.RunCommand(gctx, fs.Args(), stdout, stderr)
		if err == nil {
			err = errors.New("servicecenterd stopped") // stop the pprof listener too
		}
		return err
	})
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// defaultTargets and defaultMethods are -targets' and -methods' defaults
// (and make bench's).
const (
	defaultTargets = "a,b,c,d,e,f"
	defaultMethods = MethodGetWorkerTags + "," + MethodAssignWorker
)

// options are the run command's flags.
type options struct {
	servicecenterd string
	duration       time.Duration
	warmup         time.Duration
	rounds         int
	concurrencies  []int
	targets        []string
	methods        []string
	grpcConns      int
	signMethod     string
	out            string
	doc            string
	profile        bool
	profileConc    int
	scdEnv         []string
	pgURL          string
	redisURL       string
	replicaRate    int
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("scdbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.servicecenterd, "servicecenterd", "", "path to the servicecenterd binary (required)")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "measured time per point")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up per point (not measured)")
	fs.IntVar(&o.rounds, "rounds", 1, "rounds: each runs every point once, the targets alternating in an order that "+
		"changes from round to round; the report shows medians of the rounds (make bench: 5)")
	concs := fs.String("concurrency", "1,16,64,256", "comma-separated concurrencies")
	targets := fs.String("targets", defaultTargets, "targets: a floor, b servicecenterd gRPC with the fixed upstream, "+
		"c with the emulator, d REST with the fixed upstream, e gRPC on PostgreSQL + Redis with the fixed upstream, f its REST")
	fs.StringVar(&o.pgURL, "pg-url", envOr(envPGURL, defaultPGURL), "PostgreSQL server for targets e and f: a database "+
		"its user may create databases from; each run creates one and drops it (env "+envPGURL+")")
	fs.StringVar(&o.redisURL, "redis-url", envOr(envRedisURL, defaultRedisURL), "Redis for targets e and f; each run "+
		"uses a key prefix of its own and deletes its keys (env "+envRedisURL+")")
	fs.IntVar(&o.replicaRate, "replica-top-rate-limit", 100000, "--top-rate-limit of the PostgreSQL + Redis servicecenterd: "+
		"the shared quota in Redis takes a turn for every TOP call; far above the run's calls/s, it never makes one wait")
	methods := fs.String("methods", defaultMethods, "methods to call")
	fs.IntVar(&o.grpcConns, "grpc-conns", 1, "gRPC connections the generator spreads its callers over")
	fs.StringVar(&o.signMethod, "sign-method", "hmac-sha256", "servicecenterd's --top-sign-method")
	fs.StringVar(&o.out, "out", "bench/results", "results folder; each run writes a dated folder in it")
	fs.StringVar(&o.doc, "doc", "", "update the generated section of this Markdown file (docs/performance.md)")
	fs.BoolVar(&o.profile, "profile", false, "write CPU and allocation profiles of the servers at -profile-concurrency "+
		"(servicecenterd then runs inside scdbench with a pprof listener; the numbers are perturbed)")
	fs.IntVar(&o.profileConc, "profile-concurrency", 64, "the concurrency profiled with -profile")
	scdEnv := fs.String("scd-env", "", "comma-separated KEY=VALUE environment of the servicecenterd processes only (e.g. GOGC=400)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var errs []error
	if o.servicecenterd == "" && !o.profile {
		errs = append(errs, errors.New("-servicecenterd is required"))
	}
	if o.duration <= 0 || o.warmup < 0 {
		errs = append(errs, errors.New("-duration must be positive and -warmup not negative"))
	}
	if o.rounds < 1 {
		errs = append(errs, errors.New("-rounds must be at least 1"))
	}
	if o.replicaRate < 1 {
		errs = append(errs, errors.New("-replica-top-rate-limit must be at least 1"))
	}
	if o.grpcConns < 1 {
		errs = append(errs, errors.New("-grpc-conns must be at least 1"))
	}
	var err error
	if o.concurrencies, err = parseInts(*concs); err != nil {
		errs = append(errs, fmt.Errorf("-concurrency: %w", err))
	}
	o.scdEnv = splitList(*scdEnv)
	for _, kv := range o.scdEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("-scd-env: %q is not KEY=VALUE", kv))
		}
	}
	o.targets = splitList(*targets)
	for _, t := range o.targets {
		if !slices.Contains(report.AllTargets(), t) {
			errs = append(errs, fmt.Errorf("-targets: unknown target %q", t))
		}
	}
	o.methods = splitList(*methods)
	for _, m := range o.methods {
		if m != MethodGetWorkerTags && m != MethodAssignWorker {
			errs = append(errs, fmt.Errorf("-methods: unknown method %q", m))
		}
	}
	if len(o.targets) == 0 || len(o.methods) == 0 {
		errs = append(errs, errors.New("need at least one target and one method"))
	}
	return o, errors.Join(errs...)
}

// parseInts parses "1,16,64" into distinct positive ints, in order.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// logger writes the run's progress.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// resultsDir is the dated folder of a run.
func resultsDir(out string, start time.Time, profile bool) string {
	name := start.UTC().Format("2006-01-02")
	if profile {
		name += "-profile"
	}
	return filepath.Join(out, name)
}

// ensureDir creates dir.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	return nil
}
