//go:build unix

package sqlite

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU reports, when the returned func is called at the end of a
// benchmark, the process's CPU time (user + system, every thread: the
// audit writer's goroutine included) per op as cpu-ns/op. On a machine
// shared with other work, wall time per op swings with the load; CPU per
// op is what a change saves.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
