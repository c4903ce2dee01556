package replicas_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
	"github.com/servicecenterd/servicecenterd/internal/testutil/redistest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// Quota at the emulator (calls per second per app key, counted in each
// wall-clock second; one more is a ban), and the rate the replicas are
// given together (below it, so that the jitter of a loaded machine
// between our clock and the emulator's windows never crosses it).
const (
	emulatorQuota = 50
	sharedRate    = 40
	loadFor       = 3 * time.Second
	callers       = 8 // per replica
)

var tagsReq = &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}

// TestQuotaAndBansAcrossReplicas: three replicas on one PostgreSQL and one
// Redis keep, under load from all three, to one quota: the emulator sees
// no more than its quota (it would ban the app at the first call over)
// and bans nobody. Then a ban TOP announces to replica A stops B and C at
// once (their first call after A's answer, well within 100 ms), and no
// replica calls TOP while it lasts.
func TestQuotaAndBansAcrossReplicas(t *testing.T) {
	bin := testserver.Binary(t)
	e := testserver.StartEmulator(t, topemu.Config{})
	e.Admin(t, "PUT", "/_emulator/faults", fmt.Sprintf(`{"rules": [], "quota": {"calls_per_second": %d, "ban_seconds": 5}}`, emulatorQuota))
	rs := testserver.StartReplicas(t, bin, 3, e, pgmigrated.NewDatabase(t),
		"--redis-url", redistest.URL(), "--redis-prefix", redistest.Prefix(t),
		"--top-rate-limit", fmt.Sprint(sharedRate), "--top-rate-burst", "1")

	// Load: callers on every replica for loadFor, each call with a
	// deadline far enough for its turn.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for _, r := range rs {
		for range callers {
			wg.Go(func() {
				for time.Since(start) < loadFor {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := r.Workers.GetWorkerTags(ctx, tagsReq)
					cancel()
					if err == nil {
						ok.Add(1)
						continue
					}
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	st := e.Stats()
	if failed.Load() != 0 || st.Calls.ByErrorCode["7"] != 0 {
		t.Fatalf("under load: %d calls failed (first: %v), the emulator answered %d quota errors", failed.Load(), firstErr.Load(), st.Calls.ByErrorCode["7"])
	}
	// GCRA with a burst of 1: at most one call per 1/sharedRate, plus the
	// first, whatever the replica.
	// (Counted by method: the replicas' reachability probes, bare GETs
	// without an app key, count in the total.)
	seen := st.Calls.ByMethod[top.MethodWorkerTagList]
	if most := int64(elapsed.Seconds()*sharedRate) + 1; seen > most || ok.Load() > most || seen < ok.Load() {
		t.Fatalf("TOP saw %d calls (%d answered) in %v; the shared rate allows %d", seen, ok.Load(), elapsed, most)
	}
	t.Logf("load: %d calls from 3 replicas × %d callers in %v (%.1f/s; shared rate %d/s, emulator quota %d/s)",
		ok.Load(), callers, elapsed.Round(time.Millisecond), float64(ok.Load())/elapsed.Seconds(), sharedRate, emulatorQuota)

	// A ban TOP announces to A.
	e.Admin(t, "PUT", "/_emulator/faults", fmt.Sprintf(`{"rules": [{"method": %q, "count": 1, "error": {"code": 7, "msg": "App Call Limited", "sub_code": %q, "sub_msg": "This ban will last for 5 more seconds"}}]}`,
		top.MethodWorkerTagList, top.SubCodeAppAccessCount))
	callCtx := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return c
	}
	_, err := rs[0].Workers.GetWorkerTags(callCtx(), tagsReq)
	banSeen := time.Now()
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("A's call into the ban: %v", err)
	}
	before := e.Stats().Calls.ByMethod[top.MethodWorkerTagList]
	for i, r := range rs[1:] {
		_, err := r.Workers.GetWorkerTags(callCtx(), tagsReq)
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("replica %c after A's ban: %v", 'B'+i, err)
		}
	}
	if took := time.Since(banSeen); took > 100*time.Millisecond {
		t.Fatalf("B and C stopped %v after A saw the ban", took)
	}
	// While the ban lasts (5 s; checked for 2), nobody calls TOP.
	for time.Since(banSeen) < 2*time.Second {
		for i, r := range rs {
			if _, err := r.Workers.GetWorkerTags(callCtx(), tagsReq); status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("replica %c during the ban: %v", 'A'+i, err)
			}
		}
	}
	if after := e.Stats().Calls.ByMethod[top.MethodWorkerTagList]; after != before {
		t.Fatalf("TOP got %d calls during the ban", after-before)
	}
}
