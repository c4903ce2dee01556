package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind.
//
// Most tests here start servers of their own on ports and directories of
// their own, and spend much of their time waiting (on a drain delay, an
// emulator's latency, the job engine's polls): they call t.Parallel. The
// ones that do not are those that set environment variables (t.Setenv
// forbids it), the package's own tests that change the process's GC
// settings, and the few that keep the CPU busy for seconds (imports of
// 60,000 entries and more, a client calling in a loop), whose calls'
// deadlines a test beside them would eat into on a loaded machine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
