package metrics

import (
	"fmt"
	"net"
)

// Settings are the metrics' settings of `servicecenterd serve`: flags,
// SERVICECENTERD_* variables and YAML keys (internal/config).
type Settings struct {
	// Addr is the metrics listener's address; "" serves /metrics on the
	// HTTP listener.
	Addr string `flag:"metrics-addr" help:"Serve /metrics on its own listener (host:port) instead of on --http-addr."`
	// PProf serves Go's profiles (net/http/pprof) under /debug/pprof/ on
	// the listener of /metrics, guarded as /metrics is.
	PProf bool `flag:"pprof" default:"false" help:"Serve Go's runtime profiles (net/http/pprof) under /debug/pprof/ on the listener of /metrics (--metrics-addr, else --http-addr), to callers allowed http/pprof (never opened by --open-endpoints); /debug/pprof/cmdline is not served."`
}

// Validate checks the settings; errors name the flag.
func (s Settings) Validate() error {
	if s.Addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		return fmt.Errorf("--metrics-addr %q is not host:port", s.Addr)
	}
	return nil
}
