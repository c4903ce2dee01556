package redisquota_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/servicecenterd/servicecenterd/internal/quota"
	"github.com/servicecenterd/servicecenterd/internal/quota/redisquota"
	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"
	"github.com/servicecenterd/servicecenterd/internal/testutil/redistest"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

const appKey = "12345678"

// replica is one replica's Quota over a client of its own.
type replica struct {
	*redisquota.Quota
	logs     *logbuf.Buffer
	mu       sync.Mutex
	backends []string
}

func (r *replica) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.backends...)
}

func newReplica(t *testing.T, rdb redis.UniversalClient, opts redisquota.Options) *replica {
	t.Helper()
	r := &replica{logs: &logbuf.Buffer{}}
	opts.AppKey = appKey
	opts.Logger = slog.New(slog.NewJSONHandler(r.logs, nil))
	opts.OnBackend = func(b string) {
		r.mu.Lock()
		r.backends = append(r.backends, b)
		r.mu.Unlock()
	}
	q, err := redisquota.New(context.Background(), rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	r.Quota = q
	return r
}

// realReplicas are n replicas on the real Redis, on a prefix of the test.
func realReplicas(t *testing.T, n int, opts redisquota.Options) []*replica {
	t.Helper()
	opts.Prefix = redistest.Prefix(t)
	out := make([]*replica, n)
	for i := range out {
		out[i] = newReplica(t, redistest.Client(t), opts)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestQuotaIsShared checks that replicas take turns from one quota: with
// a burst of 3 and a turn every 2 s, callers that accept a wait of 300 ms
// get 3 turns in all, whichever replica they call, and the others are
// refused at once without taking a turn.
func TestQuotaIsShared(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		replicas int
		callers  int
	}{
		{"one replica", 1, 8},
		{"three replicas", 3, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := realReplicas(t, tc.replicas, redisquota.Options{Rate: quota.Rate{PerSecond: 0.5, Burst: 3}})
			var wg sync.WaitGroup
			var mu sync.Mutex
			granted, refused := 0, 0
			for i := range tc.callers {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					defer cancel()
					err := rs[i%len(rs)].Limiter().Wait(ctx, top.MethodAssignWorker)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						granted++
					case errors.Is(err, quota.ErrWouldPassDeadline) && errors.Is(err, context.DeadlineExceeded):
						refused++
					default:
						t.Errorf("Wait: %v", err)
					}
				})
			}
			wg.Wait()
			if granted != 3 || refused != tc.callers-3 {
				t.Fatalf("granted %d, refused %d; want 3 and %d", granted, refused, tc.callers-3)
			}
			for _, r := range rs {
				if got := r.Backend(); got != redisquota.BackendRedis {
					t.Fatalf("backend %s", got)
				}
			}
		})
	}
}

// TestWaitHonoursContext checks that a caller whose context ends while it
// waits for its turn returns at once with the context's error.
func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	r := realReplicas(t, 1, redisquota.Options{Rate: quota.Rate{PerSecond: 1, Burst: 1}})[0]
	if err := r.Wait(context.Background(), top.MethodAssignWorker); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Wait(ctx, top.MethodAssignWorker) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v", err)
	}
}

// TestWaitAfterClose checks that a closed Quota answers at once.
func TestWaitAfterClose(t *testing.T) {
	t.Parallel()
	r := realReplicas(t, 1, redisquota.Options{Rate: quota.Rate{PerSecond: 1000}})[0]
	r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Wait(ctx, top.MethodAssignWorker); err == nil || ctx.Err() != nil {
		t.Fatalf("Wait after Close: %v (context: %v)", err, ctx.Err())
	}
}

func appBan(d time.Duration) quota.Ban {
	return quota.Ban{Scope: top.BanApp, Method: top.MethodAssignWorker, Until: time.Now().Add(d),
		Resp: top.ErrorResponse{Code: 7, Msg: "App Call Limited", SubMsg: "This ban will last for 60 more seconds"}}
}

// TestBanReachesEveryReplica checks that a ban recorded by one replica
// stops the others: through the channel (Check, which with a quota reads
// only the local table), through the keys for a replica that started
// after the message (Wait), and for a replica without a quota (Check
// reads the keys).
func TestBanReachesEveryReplica(t *testing.T) {
	t.Parallel()
	opts := redisquota.Options{Prefix: redistest.Prefix(t), Rate: quota.Rate{PerSecond: 1000}}
	a := newReplica(t, redistest.Client(t), opts)
	b := newReplica(t, redistest.Client(t), opts)
	got := a.Record(context.Background(), appBan(time.Minute), time.Now())
	if got.Scope != top.BanApp || time.Until(got.Until) <= 50*time.Second {
		t.Fatalf("recorded %+v", got)
	}
	waitFor(t, "the ban to reach replica B", func() bool {
		return b.Check(context.Background(), top.MethodWorkerTagList, time.Now()) != nil
	})
	late := newReplica(t, redistest.Client(t), opts)
	var be *quota.BannedError
	if err := late.Wait(context.Background(), top.MethodWorkerTagList); !errors.As(err, &be) || be.Ban.Resp.Code != 7 || be.Ban.Method != top.MethodWorkerTagList {
		t.Fatalf("late replica's Wait: %v", err)
	}
	noQuota := opts
	noQuota.Rate = quota.Rate{}
	c := newReplica(t, redistest.Client(t), noQuota)
	if c.Limiter() != nil {
		t.Fatal("a Limiter without a quota")
	}
	if b := c.Check(context.Background(), top.MethodWorkerTagList, time.Now()); b == nil || b.Scope != top.BanApp {
		t.Fatalf("replica without a quota: Check = %+v", b)
	}
}

// TestBanScopes checks that an API ban covers its API only, and that a
// shorter ban does not shorten a longer one.
func TestBanScopes(t *testing.T) {
	t.Parallel()
	rs := realReplicas(t, 2, redisquota.Options{Rate: quota.Rate{PerSecond: 1000}})
	ctx := context.Background()
	api := quota.Ban{Scope: top.BanAPI, Method: top.MethodWorkerTagList, Until: time.Now().Add(time.Minute), Resp: top.ErrorResponse{Code: 7}}
	rs[0].Record(ctx, api, time.Now())
	shorter := api
	shorter.Until = time.Now().Add(time.Second)
	if got := rs[1].Record(ctx, shorter, time.Now()); time.Until(got.Until) < 50*time.Second {
		t.Fatalf("a shorter ban replaced the longer one: %+v", got)
	}
	for _, tc := range []struct {
		method string
		banned bool
	}{
		{top.MethodWorkerTagList, true},
		{top.MethodAssignWorker, false},
	} {
		for i, r := range rs {
			err := r.Wait(ctx, tc.method)
			var be *quota.BannedError
			if errors.As(err, &be) != tc.banned || (!tc.banned && err != nil) {
				t.Fatalf("replica %d, %s: Wait = %v, want banned %v", i, tc.method, err, tc.banned)
			}
		}
	}
}

// TestCallersAreShared checks that a caller's rate limit is one for all
// replicas and that callers do not share limits.
func TestCallersAreShared(t *testing.T) {
	t.Parallel()
	rs := realReplicas(t, 2, redisquota.Options{})
	ctx := context.Background()
	limit := quota.Rate{PerSecond: 0.5, Burst: 2}
	steps := []struct {
		replica int
		client  string
		ok      bool
	}{
		{0, "billing", true},
		{1, "billing", true},
		{0, "billing", false},
		{1, "billing", false},
		{1, "ops", true},
	}
	for i, s := range steps {
		ok, wait := rs[s.replica].Allow(ctx, s.client, limit, time.Now())
		if ok != s.ok || (!ok && (wait <= 0 || wait > 2*time.Second)) {
			t.Fatalf("step %d: Allow = %v, %v; want %v", i, ok, wait, s.ok)
		}
	}
	if ok, _ := rs[0].Allow(ctx, "billing", quota.Rate{}, time.Now()); !ok {
		t.Fatal("no limit refused")
	}
}

// TestFallbackAndRecovery checks that a replica whose Redis goes away
// keeps serving on its share of the quota (the rate and burst divided by
// the replicas), says so in its log and to
// OnBackend, keeps the bans it knows, and returns to Redis when it is
// back.
func TestFallbackAndRecovery(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	// The local share: 8/s and a burst of 8 over 4 replicas, 2/s and 2.
	r := newReplica(t, rdb, redisquota.Options{Prefix: "fallback:", Rate: quota.Rate{PerSecond: 8, Burst: 8}, Replicas: 4})
	ctx := context.Background()
	if err := r.Wait(ctx, top.MethodAssignWorker); err != nil {
		t.Fatal(err)
	}
	ban := quota.Ban{Scope: top.BanAPI, Method: top.MethodWorkerTagList, Until: time.Now().Add(time.Minute), Resp: top.ErrorResponse{Code: 7}}
	r.Record(ctx, ban, time.Now())

	m.Close()
	// The first call after Redis went away fails over at once.
	if err := r.Wait(ctx, top.MethodAssignWorker); err != nil {
		t.Fatalf("Wait with Redis down: %v", err)
	}
	if r.Backend() != redisquota.BackendLocal {
		t.Fatalf("backend %s with Redis down", r.Backend())
	}
	if ok, _ := r.Allow(ctx, "billing", quota.Rate{PerSecond: 100}, time.Now()); !ok {
		t.Fatal("Allow refused with Redis down")
	}
	var be *quota.BannedError
	if err := r.Wait(ctx, top.MethodWorkerTagList); !errors.As(err, &be) {
		t.Fatalf("a known ban forgotten with Redis down: %v", err)
	}
	if b := r.Check(ctx, top.MethodWorkerTagList, time.Now()); b == nil {
		t.Fatal("Check forgot the ban with Redis down")
	}
	if err := r.Wait(ctx, top.MethodAssignWorker); err != nil {
		t.Fatalf("second turn of the local share: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := r.Wait(short, top.MethodAssignWorker); !errors.Is(err, quota.ErrWouldPassDeadline) {
		t.Fatalf("third turn at once, over the local share of 2: %v", err)
	}
	waitFor(t, "the fallback's log line", func() bool { return strings.Contains(r.logs.String(), "Redis unreachable") })

	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the return to Redis", func() bool { return r.Backend() == redisquota.BackendRedis })
	if err := r.Wait(ctx, top.MethodAssignWorker); err != nil {
		t.Fatal(err)
	}
	if got := r.seen(); len(got) != 3 || got[0] != "redis" || got[1] != "local" || got[2] != "redis" {
		t.Fatalf("OnBackend saw %v", got)
	}
	waitFor(t, "the return's log line", func() bool { return strings.Contains(r.logs.String(), "Redis answers again") })
}

// TestStartsWithRedisDown checks that a replica starts on the fallback
// when Redis is not there, and joins it when it comes.
func TestStartsWithRedisDown(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	addr := m.Addr()
	m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	r := newReplica(t, rdb, redisquota.Options{Prefix: "down:", Rate: quota.Rate{PerSecond: 1000}})
	if r.Backend() != redisquota.BackendLocal {
		t.Fatalf("backend %s", r.Backend())
	}
	if err := r.Wait(context.Background(), top.MethodAssignWorker); err != nil {
		t.Fatal(err)
	}
	m2 := miniredis.NewMiniRedis()
	if err := m2.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m2.Close)
	waitFor(t, "Redis to be used", func() bool { return r.Backend() == redisquota.BackendRedis })
}

// TestReplicasAreCounted checks the heartbeat: the fallback's share
// follows the live replicas unless Options.Replicas says.
func TestReplicasAreCounted(t *testing.T) {
	t.Parallel()
	rs := realReplicas(t, 3, redisquota.Options{Rate: quota.Rate{PerSecond: 90}})
	waitFor(t, "three replicas counted", func() bool { return rs[0].Replicas() == 3 })
	fixed := newReplica(t, redistest.Client(t), redisquota.Options{Prefix: redistest.Prefix(t), Rate: quota.Rate{PerSecond: 90}, Replicas: 5})
	if fixed.Replicas() != 5 {
		t.Fatalf("Replicas %d", fixed.Replicas())
	}
}
