package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/bench/load"
	"github.com/servicecenterd/servicecenterd/internal/bench/report"
)

// Bench-only TOP credentials: the fixed upstream checks nothing, and they
// reach servicecenterd through its environment, as a real secret would.
const (
	benchAppKey  = "bench"
	benchSecret  = "bench-secret"
	benchSession = "bench-session"
)

// servers are the child processes of a run.
type servers struct {
	upstream, floor, scdUpstream, scdEmulator, scdReplica *child
	upstreamAddr, floorAddr                               string
	// grpc and http addresses of the servicecenterd processes: on the
	// embedded store against the fixed upstream (b, d), with the emulator
	// (c), and on PostgreSQL + Redis against the fixed upstream (e, f).
	scdUpGRPC, scdUpHTTP, scdEmuGRPC, scdEmuHTTP, scdRepGRPC, scdRepHTTP string
	// pprof addresses, with -profile.
	pprof map[*child]string
}

func (s *servers) stop() {
	for _, c := range []*child{s.scdReplica, s.scdEmulator, s.scdUpstream, s.floor, s.upstream} {
		if c != nil {
			c.stop()
		}
	}
}

// replicaFlags are the flags of the PostgreSQL + Redis servicecenterd
// beyond (b)'s (the database and Redis URLs reach it through its
// environment): its own Redis prefix, and a TOP rate limit far above
// what the run can reach, so that the shared quota in Redis takes a turn
// for every TOP call without ever making one wait.
func replicaFlags(o options, r *replica) []string {
	return []string{"--redis-prefix", r.info.RedisPrefix, "--top-rate-limit", strconv.Itoa(o.replicaRate)}
}

// startServers starts the processes the targets need; each servicecenterd
// keeps its store in its own folder of dir (the run's temporary folder),
// or, for targets e and f, in rep's database with its quota in rep's
// Redis.
func startServers(ctx context.Context, o options, dir string, rep *replica) (_ *servers, err error) {
	s := &servers{pprof: map[*child]string{}}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("scdbench executable: %w", err)
	}
	addrs, err := freeAddrs(14)
	if err != nil {
		return nil, err
	}
	next := func() string { a := addrs[0]; addrs = addrs[1:]; return a }
	need := func(ts ...string) bool {
		return slices.ContainsFunc(ts, func(t string) bool { return slices.Contains(o.targets, t) })
	}
	// servicecenterd, directly or (with -profile) inside scdbench.
	scd := func(pprofAddr string, args ...string) []string {
		if !o.profile {
			return append([]string{o.servicecenterd, "serve"}, args...)
		}
		return append([]string{self, "servicecenterd", "-pprof-addr", pprofAddr, "--"}, args...)
	}
	if need("a", "b", "d", "e", "f") {
		s.upstreamAddr = next()
		if s.upstream, err = startChild(ctx, dir, "upstream", []string{self, "upstream", "-addr", s.upstreamAddr}, nil,
			[]string{s.upstreamAddr}); err != nil {
			return nil, err
		}
	}
	upstreamURL := "http://" + s.upstreamAddr + "/router/rest"
	if need("a") {
		s.floorAddr = next()
		argv := []string{self, "floor", "-addr", s.floorAddr, "-upstream", upstreamURL}
		pp := next()
		if o.profile {
			argv = append(argv, "-pprof-addr", pp)
		}
		if s.floor, err = startChild(ctx, dir, "floor", argv, nil, []string{s.floorAddr}); err != nil {
			return nil, err
		}
		s.pprof[s.floor] = pp
	}
	creds := []string{"SERVICECENTERD_TOP_APP_SECRET=" + benchSecret, "SERVICECENTERD_TOP_SESSION=" + benchSession}
	if need("b", "d") {
		s.scdUpGRPC, s.scdUpHTTP = next(), next()
		pp := next()
		argv := scd(pp, "--grpc-addr", s.scdUpGRPC, "--http-addr", s.scdUpHTTP, "--top-url", upstreamURL,
			"--top-app-key", benchAppKey, "--top-sign-method", o.signMethod, "--data-dir", filepath.Join(dir, "data-upstream"))
		env := append(slices.Clone(creds), o.scdEnv...)
		if s.scdUpstream, err = startChild(ctx, dir, "servicecenterd-upstream", argv, env,
			[]string{s.scdUpGRPC, s.scdUpHTTP}); err != nil {
			return nil, err
		}
		s.pprof[s.scdUpstream] = pp
	}
	if need("c") {
		s.scdEmuGRPC, s.scdEmuHTTP = next(), next()
		pp := next()
		argv := scd(pp, "--grpc-addr", s.scdEmuGRPC, "--http-addr", s.scdEmuHTTP, "--emulator-addr", "127.0.0.1:0", "--top-sign-method", o.signMethod,
			"--data-dir", filepath.Join(dir, "data-emulator"))
		if s.scdEmulator, err = startChild(ctx, dir, "servicecenterd-emulator", argv, o.scdEnv,
			[]string{s.scdEmuGRPC, s.scdEmuHTTP}); err != nil {
			return nil, err
		}
		s.pprof[s.scdEmulator] = pp
	}
	if need("e", "f") {
		if rep == nil {
			return nil, errors.New("targets e and f need PostgreSQL and Redis")
		}
		s.scdRepGRPC, s.scdRepHTTP = next(), next()
		pp := next()
		argv := scd(pp, append([]string{"--grpc-addr", s.scdRepGRPC, "--http-addr", s.scdRepHTTP, "--top-url", upstreamURL,
			"--top-app-key", benchAppKey, "--top-sign-method", o.signMethod, "--data-dir", filepath.Join(dir, "data-replica")},
			replicaFlags(o, rep)...)...)
		env := append(append(slices.Clone(creds), rep.env()...), o.scdEnv...)
		if s.scdReplica, err = startChild(ctx, dir, "servicecenterd-replica", argv, env,
			[]string{s.scdRepGRPC, s.scdRepHTTP}); err != nil {
			return nil, err
		}
		s.pprof[s.scdReplica] = pp
		// The shared quota must really be in Redis, not on the fallback.
		if err := waitQuotaBackend(ctx, s.scdRepHTTP, "redis", 15*time.Second); err != nil {
			return nil, fmt.Errorf("servicecenterd on PostgreSQL + Redis: %w\n%s", err, s.scdReplica.logTail())
		}
		rep.info.QuotaBackend = "redis"
		rep.info.Flags = append([]string{"--database-url (environment)", "--redis-url (environment)"}, replicaFlags(o, rep)...)
	}
	return s, nil
}

// target is what one target id measures: the server to call and the
// processes to watch.
type target struct {
	id       string
	server   *child // the process under test
	upstream *child // nil for the emulator
	grpcAddr string // "" for REST
	httpAddr string
}

func (s *servers) target(id string) target {
	switch id {
	case report.TargetFloor:
		return target{id: id, server: s.floor, upstream: s.upstream, grpcAddr: s.floorAddr}
	case report.TargetUpstream:
		return target{id: id, server: s.scdUpstream, upstream: s.upstream, grpcAddr: s.scdUpGRPC}
	case report.TargetEmulator:
		return target{id: id, server: s.scdEmulator, grpcAddr: s.scdEmuGRPC}
	case report.TargetReplica:
		return target{id: id, server: s.scdReplica, upstream: s.upstream, grpcAddr: s.scdRepGRPC}
	case report.TargetReplicaREST:
		return target{id: id, server: s.scdReplica, upstream: s.upstream, httpAddr: s.scdRepHTTP}
	}
	return target{id: id, server: s.scdUpstream, upstream: s.upstream, httpAddr: s.scdUpHTTP}
}

// tracked is a servicecenterd process whose footprint the run records.
type tracked struct {
	c        *child
	httpAddr string
	fp       report.Footprint
}

// footprinted lists the servicecenterd processes started, with the
// targets they serve.
func (s *servers) footprinted(targets []string) []*tracked {
	var out []*tracked
	add := func(c *child, httpAddr, name string, ids ...string) {
		if c == nil {
			return
		}
		var served []string
		for _, id := range ids {
			if slices.Contains(targets, id) {
				served = append(served, id)
			}
		}
		out = append(out, &tracked{c: c, httpAddr: httpAddr, fp: report.Footprint{Server: name, Targets: served}})
	}
	add(s.scdUpstream, s.scdUpHTTP, "servicecenterd, embedded store (SQLite), fixed upstream", report.TargetUpstream, report.TargetREST)
	add(s.scdEmulator, s.scdEmuHTTP, "servicecenterd, embedded store (SQLite), embedded emulator", report.TargetEmulator)
	add(s.scdReplica, s.scdRepHTTP, "servicecenterd, PostgreSQL + Redis, fixed upstream", report.TargetReplica, report.TargetReplicaREST)
	return out
}

// withoutReplica is targets without e and f.
func withoutReplica(targets []string) []string {
	return slices.DeleteFunc(slices.Clone(targets), func(t string) bool {
		return t == report.TargetReplica || t == report.TargetReplicaREST
	})
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	start := time.Now()
	rep := &report.Report{Date: start, Load: report.Load{Start: readLoadAvg()}}
	dir := resultsDir(o.out, start, o.profile)
	if err := ensureDir(dir); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "scdbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Targets e and f run on a database and a Redis prefix of their own,
	// removed at the end; without PostgreSQL or Redis the run says so and
	// measures the other targets.
	command := commandLine(o) // as asked, even if e and f cannot run
	var repl *replica
	var skipped string
	if len(withoutReplica(o.targets)) < len(o.targets) {
		repl, err = newReplica(ctx, o.pgURL, o.redisURL)
		switch {
		case errors.Is(err, errUnreachable):
			skipped = fmt.Sprintf("Targets e and f (servicecenterd on PostgreSQL + Redis) were NOT measured: %v.", err)
			log.Warn("targets e and f skipped", slog.String("why", err.Error()))
			rep.Notes = append(rep.Notes, skipped)
			if o.targets = withoutReplica(o.targets); len(o.targets) == 0 {
				return errors.New(strings.TrimSuffix(skipped, "."))
			}
		case err != nil:
			return err
		default:
			defer func() {
				if repl != nil {
					err = errors.Join(err, repl.close(ctx))
				}
			}()
			log.Info("PostgreSQL + Redis deployment", slog.String("database", repl.info.Database),
				slog.String("redis_prefix", repl.info.RedisPrefix))
		}
	}

	srv, err := startServers(ctx, o, tmp, repl)
	if err != nil {
		return err
	}
	defer srv.stop()

	rep.Machine = describeMachine(ctx)
	rep.Settings = report.Settings{
		Duration: report.Duration(o.duration), Warmup: report.Duration(o.warmup), Rounds: o.rounds,
		Concurrencies: o.concurrencies, Targets: o.targets, Methods: o.methods,
		GRPCConns: o.grpcConns, SignMethod: o.signMethod, ServerEnv: o.scdEnv, Command: command,
	}
	tracks := srv.footprinted(o.targets)
	for _, tr := range tracks {
		if tr.fp.Start, err = snapshot(ctx, tr.c.pid(), tr.httpAddr); err != nil {
			return err
		}
	}
	perRound := len(o.concurrencies) * len(o.methods) * len(o.targets)
	total := o.rounds * perRound
	log.Info("benchmark", slog.Int("points", total), slog.Int("rounds", o.rounds),
		slog.Duration("estimated", time.Duration(total)*(o.duration+o.warmup)), slog.String("results", dir))
	n := 0
	for round := range o.rounds {
		// Concurrency outer, targets innermost: the points that ratios
		// compare run next to each other in time, in an order that
		// changes from round to round (load.RoundOrder).
		order := load.RoundOrder(len(o.targets), round)
		for _, conc := range o.concurrencies {
			for _, m := range o.methods {
				for _, i := range order {
					id := o.targets[i]
					n++
					t := srv.target(id)
					p, err := runPoint(ctx, o, srv, t, m, conc, round, dir)
					if err != nil {
						return fmt.Errorf("point %s %s %d, round %d: %w", id, m, conc, round+1, err)
					}
					p.Round = round
					rep.Points = append(rep.Points, p)
					if repl != nil && t.server == srv.scdReplica {
						if err := repl.see(ctx); err != nil {
							return err
						}
					}
					for _, tr := range tracks {
						if tr.c == t.server {
							if tr.fp.End, err = snapshot(ctx, tr.c.pid(), tr.httpAddr); err != nil {
								return err
							}
						}
					}
					log.Info("point", slog.String("progress", fmt.Sprintf("%d/%d", n, total)), slog.Int("round", round+1),
						slog.String("target", id), slog.String("method", m), slog.Int("conc", conc),
						slog.String("rps", fmt.Sprintf("%.0f", p.RPS)), slog.String("p50_ms", fmt.Sprintf("%.3f", p.P50Ms)),
						slog.String("p99_ms", fmt.Sprintf("%.3f", p.P99Ms)), slog.String("cpu_s_per_1k", fmt.Sprintf("%.3f", p.CPUPer1k)),
						slog.String("other_cores", fmt.Sprintf("%.2f", p.OtherCores)),
						slog.Int64("errors", p.Errors))
				}
			}
		}
	}
	rep.Load.End = readLoadAvg()
	for _, tr := range tracks {
		rep.Footprints = append(rep.Footprints, tr.fp)
	}
	// The replica's database and Redis keys go once its server has
	// stopped; the report says what was there.
	srv.stop()
	if repl != nil {
		cerr := repl.close(ctx)
		info := repl.info
		rep.Replica, repl = &info, nil
		if cerr != nil {
			return cerr
		}
	}
	if err := writeResults(rep, dir, o.doc); err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep.Markdown())
	if skipped != "" {
		log.Warn(skipped)
	}
	log.Info("results written", slog.String("folder", dir))
	return nil
}

// runPoint measures one target, method and concurrency.
func runPoint(ctx context.Context, o options, srv *servers, t target, method string, conc, round int, dir string) (report.Point, error) {
	if t.server == nil {
		return report.Point{}, errors.New("server not started")
	}
	var call load.CallFunc
	if t.grpcAddr != "" {
		g, err := dialGRPC(t.grpcAddr, o.grpcConns)
		if err != nil {
			return report.Point{}, err
		}
		defer g.close()
		if call, err = g.call(method); err != nil {
			return report.Point{}, err
		}
	} else {
		r := newRESTCaller(t.httpAddr, conc)
		defer r.close()
		var err error
		if call, err = r.call(method, conc); err != nil {
			return report.Point{}, err
		}
	}
	watch := []load.Process{{Name: t.server.name, PID: t.server.pid()}, {Name: "scdbench"}}
	if t.upstream != nil {
		watch = append(watch, load.Process{Name: t.upstream.name, PID: t.upstream.pid()})
	}
	var profiles sync.WaitGroup
	var profErr error
	if o.profile && conc == o.profileConc {
		name := fmt.Sprintf("%s-%s-c%d", t.id, method, conc)
		if o.rounds > 1 {
			name += fmt.Sprintf("-r%d", round+1)
		}
		profiles.Go(func() {
			profErr = fetchProfiles(ctx, srv.pprof[t.server], o, filepath.Join(dir, "profiles"), name)
		})
	}
	res, err := load.Run(ctx, load.Config{
		Concurrency: conc, Warmup: o.warmup, Duration: o.duration, CallTimeout: 10 * time.Second,
		Call: call, Watch: watch,
	})
	profiles.Wait()
	if err != nil {
		return report.Point{}, err
	}
	if profErr != nil {
		return report.Point{}, profErr
	}
	for _, c := range []*child{t.server, t.upstream} {
		if c != nil {
			if err := c.alive(); err != nil {
				return report.Point{}, err
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	p := report.Point{
		Target: t.id, Method: method, Concurrency: conc,
		Requests: res.Requests, Errors: res.Errors, FirstError: res.FirstError,
		RPS: res.RPS(), P50Ms: ms(res.Latency.P50), P99Ms: ms(res.Latency.P99), MeanMs: ms(res.Latency.Mean),
		CPUPer1k: res.CPUPer1k(0), GeneratorCPUPer1k: res.CPUPer1k(1), OtherCores: res.OtherCores(),
	}
	if t.upstream != nil {
		p.UpstreamCPUPer1k = res.CPUPer1k(2)
	}
	return p, nil
}

// fetchProfiles saves a CPU profile and an allocation profile of the
// measured window (they start after the warm-up and end a little before
// the window does).
func fetchProfiles(ctx context.Context, pprofAddr string, o options, dir, name string) error {
	if err := ensureDir(dir); err != nil {
		return err
	}
	t := time.NewTimer(o.warmup)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	secs := max(1, int(o.duration.Seconds())-1)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, kind := range []string{"profile", "allocs"} {
		wg.Go(func() {
			url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", pprofAddr, kind, secs)
			suffix := map[string]string{"profile": "cpu", "allocs": "allocs"}[kind]
			errs[i] = download(ctx, url, filepath.Join(dir, name+"."+suffix+".pprof"))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func download(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: HTTP %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// writeResults writes results.md, results.json and chart.svg into dir, and
// the generated section of doc when doc is set.
func writeResults(rep *report.Report, dir, doc string) error {
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	md := "# Benchmark results\n\n![rps and p99 against concurrency](chart.svg)\n\n" + rep.Markdown()
	files := map[string][]byte{"results.json": js, "results.md": []byte(md), "chart.svg": []byte(rep.SVG())}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	if doc == "" {
		return nil
	}
	old, err := os.ReadFile(doc)
	if err != nil {
		return fmt.Errorf("update %s: %w", doc, err)
	}
	rel, err := filepath.Rel(filepath.Dir(doc), dir)
	if err != nil {
		rel = dir
	}
	rel = filepath.ToSlash(rel)
	section := fmt.Sprintf("![rps and p99 against concurrency](%s/chart.svg)\n\nFull results: [%s/results.md](%s/results.md), "+
		"[results.json](%s/results.json).\n\n", rel, rel, rel, rel) + demoteHeadings(rep.Markdown())
	updated, err := report.ReplaceSection(old, section)
	if err != nil {
		return fmt.Errorf("update %s: %w", doc, err)
	}
	return os.WriteFile(doc, updated, 0o644)
}

// demoteHeadings turns "### " headings into "#### " ones for embedding.
func demoteHeadings(md string) string {
	return strings.ReplaceAll(md, "\n### ", "\n#### ")
}

// commandLine is the make command that reproduces a run.
func commandLine(o options) string {
	cmd := fmt.Sprintf("make bench BENCH_ROUNDS=%d BENCH_DURATION=%s BENCH_WARMUP=%s BENCH_CONCURRENCY=%s",
		o.rounds, o.duration, o.warmup, joinInts(o.concurrencies))
	if o.profile {
		cmd = strings.Replace(cmd, "make bench", "make bench-profile", 1)
	}
	if t := strings.Join(o.targets, ","); t != defaultTargets {
		cmd += " BENCH_TARGETS=" + t
	}
	if m := strings.Join(o.methods, ","); m != defaultMethods {
		cmd += " BENCH_METHODS=" + m
	}
	if len(o.scdEnv) > 0 {
		cmd += " BENCH_FLAGS='-scd-env " + strings.Join(o.scdEnv, ",") + "'"
	}
	return cmd
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
