// Command servicecenterd gives Tmall service providers one typed door to
// Taobao Open Platform APIs (docs/top-protocol.md §9). Subcommands:
//
//	servicecenterd [serve] [flags]    the gRPC + REST server
//	servicecenterd emulator [flags]   the TOP gateway emulator alone
//	servicecenterd blacklist ...      bulk blacklist sync jobs (import, jobs, status, cancel)
//	servicecenterd config check FILE  validate a config file, print the settings
//	servicecenterd token generate     make a bearer token (and hash)
//	servicecenterd version            the build
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/servicecenterd/servicecenterd/internal/buildinfo"
)

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code := exitCode(err); code != 0 {
		fmt.Fprintln(os.Stderr, "servicecenterd:", err)
		os.Exit(code)
	}
}

// exitCode is the process's exit status after run returned err: 0 for
// success and for -h (the usage is already printed), 1 otherwise.
func exitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}

const versionUsage = `Usage: servicecenterd version

Prints the build: module version, VCS revision and time, Go version.
`

const usage = `Usage: servicecenterd <command> [flags]

Commands:
  serve      run the gRPC and REST server (the default; servicecenterd serve -h)
  emulator   run the TOP gateway emulator alone (servicecenterd emulator -h)
  blacklist  import blacklist files as durable sync jobs, list and follow them (servicecenterd blacklist help)
  config     check FILE: validate a config file and print the settings; reference: print them all
  token      generate: a new bearer token and its hash; hash: hash a token from stdin
  version    print the build
`

// run dispatches to a subcommand by its name in args[0]; no name, or a
// flag first, means serve.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		return runServe(ctx, args, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "version":
		if len(args) > 1 {
			if isHelp(args[1]) {
				fmt.Fprint(stdout, versionUsage)
				return flag.ErrHelp
			}
			fmt.Fprint(stderr, versionUsage)
			return fmt.Errorf("version: unexpected arguments %q", args[1:])
		}
		fmt.Fprintln(stdout, buildinfo.Read())
		return nil
	case "emulator":
		return runEmulator(ctx, args[1:], stdout, stderr)
	case "blacklist":
		return runBlacklist(ctx, args[1:], stdout, stderr)
	case "config":
		return runConfig(args[1:], nil, stdout, stderr)
	case "token":
		return runToken(args[1:], os.Stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
