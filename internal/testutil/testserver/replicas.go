package testserver

import (
	"testing"
)

// StartReplicas runs n `servicecenterd serve` processes of bin as
// replicas of one app: each on free loopback ports with a data dir of its
// own and JSON logs, all with shared (the flags that make them share
// state: the emulator's ServeFlags, --database-url, --redis-url...). They
// start one after the other, so that the first migrates a shared
// database before the others open it. They are stopped when the test
// ends.
func StartReplicas(t testing.TB, bin string, n int, shared ...string) []*Process {
	t.Helper()
	out := make([]*Process, n)
	for i := range out {
		args := append([]string{"serve", "--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0",
			"--http-addr", "127.0.0.1:0", "--log-format", "json"}, shared...)
		out[i] = StartProcess(t, bin, args...)
	}
	return out
}
