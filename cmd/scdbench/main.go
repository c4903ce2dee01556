// Command scdbench is the benchmark behind `make bench`: servicecenterd
// against the floor of two network hops, all on loopback. See
// docs/performance.md.
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

	"github.com/servicecenterd/servicecenterd/internal/benchcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := benchcmd.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "scdbench:", err)
		os.Exit(1)
	}
}
