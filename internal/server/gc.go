package server

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"time"
)

// DefaultGCPercent is the garbage collector's goal (GOGC) that serve sets
// when the environment does not set GOGC. servicecenterd's live heap is a
// few MB, so with Go's default of 100 the heap goal stays near the
// runtime's 4 MB minimum and the collector runs tens of times a second
// under load, shrinking the RPC workers' stacks each time (they then grow
// them again by copying). 400 cut servicecenterd's CPU per call by about a
// fifth at 64 callers for a heap goal of about 16 MB or five times the live
// heap; see docs/performance.md.
const DefaultGCPercent = 400

// tuneGC sets the GC goal to DefaultGCPercent unless the environment sets
// GOGC (which the runtime has then applied), and returns the GOGC in force.
func tuneGC(lookupEnv func(string) (string, bool)) string {
	if v, ok := lookupEnv("GOGC"); ok {
		return v
	}
	debug.SetGCPercent(DefaultGCPercent)
	return strconv.Itoa(DefaultGCPercent)
}

// idleCheckInterval is how often serve looks for the end of a load to
// return the heap it left to the operating system (idleHeap).
const idleCheckInterval = 30 * time.Second

// idleHeap returns the heap a load leaves behind to the operating system
// once the load has ended. With GOGC 400 the heap grows to five times
// the live heap between collections: after a load at 64 callers (with
// the embedded emulator) about 200 MiB of it, nearly all garbage, and
// the Go runtime keeps it, since a server that stops allocating stops
// collecting. An interval with no collection at all means the server has
// become nearly idle; idleHeap then collects and releases the free heap
// once (debug.FreeOSMemory), and not again until collections have run
// in between (a new load).
type idleHeap struct {
	// cycles reads the number of completed GC cycles.
	cycles func() uint64
	// release collects and returns the free heap to the OS.
	release func()
	// last is the cycle count at the previous check; released the count
	// after the last release.
	last, released uint64
	started        bool
}

func newIdleHeap() *idleHeap {
	sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	return &idleHeap{
		cycles: func() uint64 {
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return 0
			}
			return sample[0].Value.Uint64()
		},
		release: debug.FreeOSMemory,
	}
}

// check is one look: it releases when no collection ran since the last
// look and none but its own since its last release. It reports whether
// it released.
func (h *idleHeap) check() bool {
	n := h.cycles()
	idle := h.started && n == h.last
	h.last, h.started = n, true
	if !idle || (h.released != 0 && n == h.released) {
		return false
	}
	h.release()
	h.released = h.cycles()
	h.last = h.released
	return true
}

// run checks every interval until ctx ends.
func (h *idleHeap) run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.check()
		}
	}
}
