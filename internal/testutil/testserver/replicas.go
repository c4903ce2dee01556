package testserver

import (
	"testing"
)

// ReplicaFlags are the serve flags of one replica of a deployment that
// shares the PostgreSQL database at databaseURL and calls the emulator e:
// loopback ports of its own, JSON logs (StartProcess reads them), and
// extra appended.
func ReplicaFlags(e *Emulator, databaseURL string, extra ...string) []string {
	args := append([]string{"serve"}, e.ServeFlags()...)
	args = append(args, "--database-url", databaseURL,
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json")
	return append(args, extra...)
}

// StartReplicas runs n processes of bin (Binary) as replicas of one
// deployment: one PostgreSQL database (databaseURL, e.g. from
// pgtest.NewDatabase) and one TOP (the emulator e), each started with
// ReplicaFlags(e, databaseURL, extra...). They start one after the other
// (the first migrates the database), each serving before the next starts,
// and stop when the test ends.
func StartReplicas(t testing.TB, bin string, n int, e *Emulator, databaseURL string, extra ...string) []*Process {
	t.Helper()
	out := make([]*Process, n)
	for i := range out {
		out[i] = StartProcess(t, bin, ReplicaFlags(e, databaseURL, extra...)...)
	}
	return out
}
