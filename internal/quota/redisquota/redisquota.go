// Package redisquota keeps the quota package's Limiter, Bans and Callers
// in Redis, so that N replicas of servicecenterd behave as one app: one
// TOP quota for all, a ban TOP announced to one replica honoured by every
// replica, one rate limit per caller.
//
// The quota is GCRA in a Lua script of our own rather than
// github.com/go-redis/redis_rate: one script checks the app's and the
// API's bans and reserves the turns of a whole batch of waiting callers in
// one round trip, on Redis's clock. redis_rate answers one caller per
// round trip, refuses instead of reserving a turn to wait for, and knows
// nothing of bans, so it would cost two or more round trips a call.
// Callers waiting at once share a batch (a replica runs one script at a
// time; the callers that come meanwhile make the next batch), so many
// concurrent callers cost few round trips.
//
// A ban is written with its TTL (capped at quota.MaxBanUntil) and
// published; every replica subscribes at start and keeps the bans it
// hears in a local table, which Check reads first, so a ban seen by one
// replica stops the others as soon as the message arrives, without any of
// them calling TOP. The script checks the ban keys too, so a replica that
// missed a message (reconnecting) still honours the ban.
//
// When Redis cannot be reached the replica falls back to in-process
// limits at its share of the quota (the rate divided by the replicas:
// Options.Replicas, or the number of live replicas last seen in Redis,
// where each renews a heartbeat), logs it, reports it (Options.OnBackend)
// and keeps serving; it probes Redis and returns to it when it answers.
package redisquota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/servicecenterd/servicecenterd/internal/quota"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Backend names, as Options.OnBackend reports them.
const (
	BackendRedis = "redis"
	BackendLocal = "local"
)

// Tunables.
const (
	// maxBatch is the most callers one script answers.
	maxBatch = 256
	// batchers is how many scripts of the quota a replica runs at once.
	// One: the callers that come while a script runs wait for the next
	// one, so batches grow with the load (at c=64 about 14 callers a
	// script); with two, batches stayed small and GetWorkerTags lost 18%
	// of its calls/s to Redis's round trips instead of 4-6%.
	batchers = 1
	// opTimeout bounds one Redis operation of a call's path, so that a
	// Redis that hangs turns into the fallback quickly.
	opTimeout = 500 * time.Millisecond
	// probeInterval is how often Redis is probed while it is down.
	probeInterval = 250 * time.Millisecond
	// heartbeat is how often a replica renews its heartbeat; one lives
	// heartbeatTTL.
	heartbeat    = 2 * time.Second
	heartbeatTTL = 3 * heartbeat
	// noDeadline is the longest wait of a caller without a deadline.
	noDeadline = time.Hour
)

// Options configure a Quota.
type Options struct {
	// Prefix starts every key and channel (tests use their own). The
	// app key follows it, so apps may share a Redis.
	Prefix string
	// AppKey is the TOP app's key.
	AppKey string
	// Rate is the app's TOP quota for all replicas together; a zero
	// PerSecond means none (bans only).
	Rate quota.Rate
	// Replicas is how many replicas share the quota, for the fallback's
	// share; 0 means the number of live replicas last seen in Redis.
	Replicas int
	// Logger receives the backend changes. Required.
	Logger *slog.Logger
	// OnBackend, if set, is told the backend in use (BackendRedis or
	// BackendLocal) at start and at each change.
	OnBackend func(backend string)
}

// Quota is the quota, bans and per-caller limits of one app in Redis. Its
// methods are safe for concurrent use. Close stops it.
type Quota struct {
	rdb       redis.UniversalClient
	opts      Options
	replicaID string

	quotaKey, appBanKey, channel, replicasKey string
	banPrefix, callerPrefix                   string
	interval, tolerance                       float64 // µs

	healthy  atomic.Bool
	replicas atomic.Int64 // live replicas last seen (>= 1)

	local        *quota.LocalBans    // the bans heard of, and the fallback's
	localLimiter *quota.LocalLimiter // nil without a quota
	localCallers *quota.LocalCallers

	reqs      chan *waitReq
	probe     chan struct{} // a failure wakes the prober
	cancel    context.CancelFunc
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New returns the quota of opts.AppKey in rdb and starts its background
// work: the subscription to bans, the heartbeat, the batchers and the
// prober. It does not fail when Redis is down: it starts on the fallback.
func New(ctx context.Context, rdb redis.UniversalClient, opts Options) (*Quota, error) {
	if opts.Logger == nil {
		return nil, errors.New("redisquota: Options.Logger is required")
	}
	if opts.AppKey == "" {
		return nil, errors.New("redisquota: Options.AppKey is required")
	}
	if opts.Rate.PerSecond < 0 || math.IsNaN(opts.Rate.PerSecond) || math.IsInf(opts.Rate.PerSecond, 0) || opts.Rate.Burst < 0 || opts.Replicas < 0 {
		return nil, errors.New("redisquota: Options.Rate and Options.Replicas must not be negative")
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	// One hash tag per app, so that a script's keys share a cluster slot.
	base := opts.Prefix + "{" + opts.AppKey + "}:"
	q := &Quota{
		rdb: rdb, opts: opts, replicaID: hex.EncodeToString(id[:]),
		quotaKey: base + "quota", appBanKey: base + "ban:app", banPrefix: base + "ban:api:",
		channel: base + "bans", replicasKey: base + "replicas", callerPrefix: base + "caller:",
		local: quota.NewLocalBans(), localCallers: quota.NewLocalCallers(),
		reqs: make(chan *waitReq, maxBatch), probe: make(chan struct{}, 1), closed: make(chan struct{}),
	}
	q.replicas.Store(1)
	if opts.Rate.PerSecond > 0 {
		q.interval = 1e6 / opts.Rate.PerSecond
		q.tolerance = float64(opts.Rate.EffectiveBurst()-1) * q.interval
		q.localLimiter = quota.NewLocalLimiter(q.share())
	}
	ctx, q.cancel = context.WithCancel(context.WithoutCancel(ctx))
	q.healthy.Store(true)
	sub := q.rdb.Subscribe(ctx, q.channel)
	if err := q.start(ctx, sub); err != nil {
		q.fail(err)
	} else {
		q.report()
	}
	q.wg.Add(3 + batchers)
	go q.listen(ctx, sub)
	go q.beat(ctx)
	go q.prober(ctx)
	for range batchers {
		go q.batcher(ctx)
	}
	return q, nil
}

// start confirms the subscription and the first heartbeat.
func (q *Quota) start(ctx context.Context, sub *redis.PubSub) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("subscribe to bans: %w", err)
	}
	return q.renew(ctx)
}

// Close stops the background work; later calls of Wait (and the ones
// waiting for a batch) end with an error. It does not close the Redis
// client. Calling it again does nothing.
func (q *Quota) Close() {
	q.closeOnce.Do(func() {
		q.cancel()
		q.wg.Wait()
		close(q.closed)
	})
}

// errClosed answers the callers that wait when the Quota is closed.
var errClosed = errors.New("quota: closed")

// Backend is the backend in use: BackendRedis or BackendLocal.
func (q *Quota) Backend() string {
	if q.healthy.Load() {
		return BackendRedis
	}
	return BackendLocal
}

// Replicas is the number of replicas whose share the fallback takes.
func (q *Quota) Replicas() int {
	if q.opts.Replicas > 0 {
		return q.opts.Replicas
	}
	return int(q.replicas.Load())
}

// share is this replica's part of the quota.
func (q *Quota) share() quota.Rate {
	n := float64(q.Replicas())
	return quota.Rate{PerSecond: q.opts.Rate.PerSecond / n, Burst: max(1, int(float64(q.opts.Rate.EffectiveBurst())/n))}
}

// Limiter is the app's quota as a quota.Limiter, or nil when Options.Rate
// sets none (then Check reads the ban keys itself).
func (q *Quota) Limiter() quota.Limiter {
	if q.localLimiter == nil {
		return nil
	}
	return q
}

// fail switches to the fallback after an error of Redis (not of the
// caller's context), saying so once.
func (q *Quota) fail(err error) {
	if q.healthy.CompareAndSwap(true, false) {
		q.opts.Logger.Warn("Redis unreachable: using this replica's local share of the TOP quota and local rate limits until it answers",
			slog.String("error", err.Error()), slog.Int("replicas", q.Replicas()), slog.Float64("local_rate", q.share().PerSecond))
		q.report()
	}
	select {
	case q.probe <- struct{}{}:
	default:
	}
}

func (q *Quota) report() {
	if q.opts.OnBackend != nil {
		q.opts.OnBackend(q.Backend())
	}
}

// redisFailed reports whether err is Redis's failure (then the fallback
// is taken), not nil, a Redis nil answer or the end of ctx.
func redisFailed(ctx context.Context, err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil
}

// prober pings Redis while it is down and returns to it when it answers.
func (q *Quota) prober(ctx context.Context) {
	defer q.wg.Done()
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.probe:
		case <-t.C:
		}
		if q.healthy.Load() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, opTimeout)
		err := q.renew(pctx)
		cancel()
		if err == nil && q.healthy.CompareAndSwap(false, true) {
			q.opts.Logger.Info("Redis answers again: the TOP quota, bans and rate limits are shared again", slog.Int("replicas", q.Replicas()))
			q.report()
		}
	}
}

// beat renews the heartbeat and learns how many replicas live.
func (q *Quota) beat(ctx context.Context) {
	defer q.wg.Done()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !q.healthy.Load() {
			continue // the prober renews it
		}
		bctx, cancel := context.WithTimeout(ctx, opTimeout)
		if err := q.renew(bctx); redisFailed(ctx, err) {
			q.fail(err)
		}
		cancel()
	}
}

// renew renews the heartbeat and counts the live replicas.
func (q *Quota) renew(ctx context.Context) error {
	n, err := replicasScript.Run(ctx, q.rdb, []string{q.replicasKey}, q.replicaID, heartbeatTTL.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if n >= 1 && q.replicas.Swap(n) != n && q.localLimiter != nil {
		q.localLimiter.SetRate(q.share())
	}
	return nil
}

// banMessage is a ban as stored and published.
type banMessage struct {
	Scope  top.BanScope      `json:"scope"`
	Method string            `json:"method,omitempty"`
	TTLMS  int64             `json:"ttl_ms"`
	Resp   top.ErrorResponse `json:"resp"`
}

// listen keeps the local table of bans from the channel; go-redis
// resubscribes after a reconnection.
func (q *Quota) listen(ctx context.Context, sub *redis.PubSub) {
	defer q.wg.Done()
	defer sub.Close()
	ch := sub.Channel(redis.WithChannelHealthCheckInterval(time.Second))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			q.learn(m.Payload, -1)
		}
	}
}

// learn records the ban in payload in the local table, lasting ttl ms
// (the message's own when ttl < 0).
func (q *Quota) learn(payload string, ttl int64) *quota.Ban {
	var m banMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		q.opts.Logger.Warn("ignoring a malformed ban from Redis", slog.String("error", err.Error()))
		return nil
	}
	if ttl < 0 {
		ttl = m.TTLMS
	}
	if ttl <= 0 {
		return nil
	}
	now := time.Now()
	b := q.local.Record(context.Background(), quota.Ban{Scope: m.Scope, Method: m.Method,
		Until: now.Add(time.Duration(ttl) * time.Millisecond), Resp: m.Resp}, now)
	return &b
}

// Check implements quota.Bans: the local table (fed by the channel)
// first; then, unless the quota's script will check the ban keys anyway
// (Wait), the keys in Redis, in the batch of the callers checking at the
// same time.
func (q *Quota) Check(ctx context.Context, method string, now time.Time) *quota.Ban {
	if b := q.local.Check(ctx, method, now); b != nil {
		return b
	}
	if q.localLimiter != nil || !q.healthy.Load() {
		return nil
	}
	a, err := q.ask(ctx, method, checkOnly)
	var be *quota.BannedError
	if err == nil && errors.As(a.err, &be) {
		return &be.Ban
	}
	return nil
}

// Record implements quota.Bans: the ban goes into the local table at
// once, then into Redis, which publishes it to the other replicas.
func (q *Quota) Record(ctx context.Context, b quota.Ban, now time.Time) quota.Ban {
	b.Until = quota.CapUntil(now, b.Until)
	in := q.local.Record(ctx, b, now)
	if !q.healthy.Load() {
		return in
	}
	ttl := b.Until.Sub(now).Milliseconds()
	if ttl <= 0 {
		return in
	}
	key := q.appBanKey
	m := banMessage{Scope: b.Scope, TTLMS: ttl, Resp: b.Resp}
	if b.Scope == top.BanAPI {
		key, m.Method = q.banPrefix+b.Method, b.Method
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return in
	}
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	res, err := banScript.Run(rctx, q.rdb, []string{key}, payload, ttl, q.channel).Slice()
	if err != nil {
		if redisFailed(ctx, err) {
			q.fail(err)
		}
		return in
	}
	if len(res) == 2 { // a longer ban was in force in Redis
		v, _ := res[0].(string)
		pttl, _ := res[1].(int64)
		if v != string(payload) && pttl > 0 {
			if got := q.learn(v, pttl); got != nil {
				in = q.local.Record(ctx, *got, now)
			}
		}
	}
	if in.Scope == top.BanApp {
		in.Method = b.Method
	}
	return in
}

// Allow implements quota.Callers: GCRA in Redis (one round trip), or the
// local buckets at this replica's share while Redis is down.
func (q *Quota) Allow(ctx context.Context, client string, limit quota.Rate, now time.Time) (bool, time.Duration) {
	if limit.PerSecond <= 0 {
		return true, 0
	}
	if q.healthy.Load() {
		interval := 1e6 / limit.PerSecond
		tolerance := float64(limit.EffectiveBurst()-1) * interval
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		wait, err := allowScript.Run(rctx, q.rdb, []string{q.callerPrefix + client}, interval, tolerance).Int64()
		cancel()
		if err == nil {
			if wait <= 0 {
				return true, 0
			}
			return false, time.Duration(wait) * time.Microsecond
		}
		if redisFailed(ctx, err) {
			q.fail(err)
		}
	}
	n := float64(q.Replicas())
	share := quota.Rate{PerSecond: limit.PerSecond / n, Burst: max(1, int(float64(limit.EffectiveBurst())/n))}
	return q.localCallers.Allow(ctx, client, share, now)
}

// waitReq is one caller waiting for a turn.
type waitReq struct {
	method string
	max    time.Duration
	done   chan waitAns // buffered: the batcher never blocks on it
}

// waitAns is the batcher's answer: wait this long, or err (a ban, a wait
// too long, or Redis's failure).
type waitAns struct {
	wait time.Duration
	err  error
}

var errRedisDown = errors.New("redis unreachable")

// Wait implements quota.Limiter: a turn of the shared quota (batched with
// the callers waiting at the same time), or of the local share while
// Redis is down.
func (q *Quota) Wait(ctx context.Context, method string) error {
	if q.healthy.Load() {
		longest := noDeadline
		if dl, ok := ctx.Deadline(); ok {
			longest = max(0, time.Until(dl))
		}
		a, err := q.ask(ctx, method, longest)
		if err != nil {
			return err
		}
		if !errors.Is(a.err, errRedisDown) {
			if a.err != nil {
				return a.err
			}
			return sleep(ctx, a.wait)
		}
	}
	if b := q.local.Check(ctx, method, time.Now()); b != nil {
		return &quota.BannedError{Ban: *b}
	}
	return q.localLimiter.Wait(ctx, method)
}

// checkOnly is the longest wait of a caller that only checks the bans.
const checkOnly = -time.Second

// ask queues a caller for the next batch and returns its answer; err is
// ctx's end.
func (q *Quota) ask(ctx context.Context, method string, longest time.Duration) (waitAns, error) {
	r := &waitReq{method: method, max: longest, done: make(chan waitAns, 1)}
	select {
	case q.reqs <- r:
	case <-ctx.Done():
		return waitAns{}, fmt.Errorf("quota: %w", ctx.Err())
	case <-q.closed:
		return waitAns{}, errClosed
	}
	select {
	case a := <-r.done:
		return a, nil
	case <-ctx.Done():
		return waitAns{}, fmt.Errorf("quota: %w", ctx.Err())
	case <-q.closed:
		return waitAns{}, errClosed
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("quota: %w", ctx.Err())
	}
}

// batcher answers the waiting callers, as many as are queued, with one
// script each time.
func (q *Quota) batcher(ctx context.Context) {
	defer q.wg.Done()
	batch := make([]*waitReq, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case r := <-q.reqs:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-q.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		q.take(ctx, batch)
	}
}

// take runs takeScript for batch and answers each caller.
func (q *Quota) take(ctx context.Context, batch []*waitReq) {
	keys := []string{q.quotaKey, q.appBanKey}
	index := map[string]int{}
	args := make([]any, 0, 2+2*len(batch))
	args = append(args, strconv.FormatFloat(q.interval, 'f', 3, 64), strconv.FormatFloat(q.tolerance, 'f', 3, 64))
	for _, r := range batch {
		i, ok := index[r.method]
		if !ok {
			keys = append(keys, q.banPrefix+r.method)
			i = len(keys) // Lua's index of the key
			index[r.method] = i
		}
		args = append(args, i, r.max.Microseconds())
	}
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	res, err := takeScript.Run(rctx, q.rdb, keys, args...).Slice()
	cancel()
	nbans := 2 * (len(keys) - 1)
	if err == nil && len(res) != nbans+len(batch) {
		err = fmt.Errorf("quota script answered %d values for %d callers", len(res), len(batch))
	}
	if err != nil {
		if redisFailed(ctx, err) {
			q.fail(err)
		}
		for _, r := range batch {
			r.done <- waitAns{err: errRedisDown}
		}
		return
	}
	for i := 0; i < nbans; i += 2 {
		v, _ := res[i].(string)
		ttl, _ := res[i+1].(int64)
		if v != "" && ttl > 0 {
			q.learn(v, ttl)
		}
	}
	now := time.Now()
	for j, r := range batch {
		w, _ := res[nbans+j].(int64)
		switch {
		case w >= 0:
			r.done <- waitAns{wait: time.Duration(w) * time.Microsecond}
		case w == -1:
			b := q.local.Check(ctx, r.method, now)
			if b == nil { // expired meanwhile
				r.done <- waitAns{}
				continue
			}
			r.done <- waitAns{err: &quota.BannedError{Ban: *b}}
		default:
			r.done <- waitAns{err: fmt.Errorf("quota: %w: %w", quota.ErrWouldPassDeadline, context.DeadlineExceeded)}
		}
	}
}
