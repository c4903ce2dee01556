// Command scdbench is the benchmark behind `make bench`: servicecenterd
// against the floor of two network hops, all on loopback. See
// docs/performance.md.
//
// It starts the servers under test as child processes on loopback (the
// fixed TOP upstream, the floor, servicecenterd against the upstream,
// servicecenterd with its embedded emulator, and servicecenterd on
// PostgreSQL + Redis, on a database and a Redis key prefix it creates
// for the run and removes at its end), drives each target, method and
// concurrency with the closed-loop generator of internal/bench/load, in
// rounds whose target order changes (load.RoundOrder), measures the
// servers' CPU from /proc and servicecenterd's footprint, and writes the
// results and the generated section of docs/performance.md. Its other
// subcommands are the child processes themselves.
//
//	scdbench run -servicecenterd PATH [flags]   run the benchmark
//	scdbench upstream|floor|servicecenterd      the child processes
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "scdbench:", err)
		os.Exit(1)
	}
}
