package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// waitTimeout bounds every wait on a condition: long enough for a loaded
// machine, short enough that a broken server fails the test rather than
// hanging it.
const waitTimeout = 15 * time.Second

// waitFor polls cond until it holds, failing the test with what after
// waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFaultFired waits until the embedded emulator's fault rule i has
// fired on n calls. A rule fires as a call arrives, before its latency: a
// call held by a latency rule is in flight once its rule has fired.
func waitFaultFired(t *testing.T, ts *testServer, i, n int) {
	t.Helper()
	waitFor(t, "the emulator's fault rule to fire", func() bool {
		var f topemu.Faults
		if err := json.Unmarshal(ts.emulator(t, http.MethodGet, "/_emulator/faults", nil), &f); err != nil {
			t.Fatal(err)
		}
		return len(f.Rules) > i && f.Rules[i].Fired >= n
	})
}

// waitLogCount waits until the server has logged msg more than n times
// (n is a count taken before the action that logs it again).
func waitLogCount(t *testing.T, ts *testServer, msg string, n int) {
	t.Helper()
	waitFor(t, "log line "+msg, func() bool { return strings.Count(ts.logs.String(), msg) > n })
}
