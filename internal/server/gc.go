package server

import (
	"runtime/debug"
	"strconv"
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
