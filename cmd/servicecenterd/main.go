// Command servicecenterd gives Tmall service providers one typed door to
// five Taobao Open Platform APIs. Subcommands:
//
//	servicecenterd emulator [flags]   the TOP gateway emulator alone
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/servicecenterd/servicecenterd/internal/emulatorcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp): // -h: usage already printed
	case errors.Is(err, errNoCommand):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "servicecenterd:", err)
		os.Exit(1)
	}
}

const usage = `Usage: servicecenterd <command> [flags]

Commands:
  emulator   run the TOP gateway emulator (servicecenterd emulator -h)
`

// errNoCommand is returned when no subcommand is named.
var errNoCommand = errors.New("no command given")

// run dispatches to a subcommand by its name in args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errNoCommand
	}
	switch args[0] {
	case "emulator":
		return emulatorcmd.Run(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
