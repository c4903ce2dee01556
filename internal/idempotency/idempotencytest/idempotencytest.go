// Package idempotencytest holds the cases every idempotency.Store must
// pass (SQLite and PostgreSQL, through internal/store/storetest): call
// TestStore from each implementation's tests.
package idempotencytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/idempotency"
)

// T0 is the time of the first claim of the cases.
var T0 = time.Date(2025, 1, 1, 0, 0, 0, 123456789, time.UTC)

// Lease and TTL of the cases' claims.
const (
	Lease = 30 * time.Second
	TTL   = 24 * time.Hour
)

const method = "/servicecenter.v1.WorkcardService/AssignWorker"

var (
	hashA = bytes.Repeat([]byte{0xa}, 32)
	hashB = bytes.Repeat([]byte{0xb}, 32)
)

// TestStore runs every case against fresh stores made by open.
func TestStore(t *testing.T, open func(t *testing.T) idempotency.Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s idempotency.Store)
	}{
		{"claim complete replay", testClaimCompleteReplay},
		{"in flight", testInFlight},
		{"scoped per client", testScopedPerClient},
		{"expired lease taken over", testTakeOver},
		{"expired record claimed anew", testExpired},
		{"release", testRelease},
		{"stream hash set at completion", testStream},
		{"prune", testPrune},
		{"concurrent claims", testConcurrentClaims},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// claimAt is a claim of key by client at now with hash.
func claimAt(client, key string, hash []byte, token string, now time.Time) idempotency.Claim {
	return idempotency.Claim{Client: client, Key: key, Method: method, Hash: hash, Token: token,
		Now: now, LeaseUntil: now.Add(Lease), Expires: now.Add(TTL)}
}

func mustClaim(t *testing.T, s idempotency.Store, c idempotency.Claim, want bool) idempotency.Record {
	t.Helper()
	rec, claimed, err := s.ClaimIdempotencyKey(context.Background(), c)
	if err != nil {
		t.Fatalf("claim %s/%s: %v", c.Client, c.Key, err)
	}
	if claimed != want {
		t.Fatalf("claim %s/%s at %s: claimed = %v, want %v (record %+v)", c.Client, c.Key, c.Now, claimed, want, rec)
	}
	return rec
}

func testClaimCompleteReplay(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	rec := mustClaim(t, s, claimAt("c1", "k1", hashA, "t1", T0), true)
	if rec.Done || rec.Method != method || !bytes.Equal(rec.Hash, hashA) {
		t.Fatalf("claimed record = %+v", rec)
	}
	out := idempotency.Outcome{Hash: hashA, Code: codes.OK, Body: []byte("\x0a\x03abc"), TOPRequestID: "top-1", Expires: T0.Add(time.Second + TTL)}
	if err := s.CompleteIdempotencyKey(ctx, "c1", "k1", "t1", out); err != nil {
		t.Fatal(err)
	}
	// Completing, renewing or releasing again is refused: the claim is closed.
	if err := s.CompleteIdempotencyKey(ctx, "c1", "k1", "t1", out); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("second complete: %v, want ErrNotOwner", err)
	}
	if err := s.RenewIdempotencyKey(ctx, "c1", "k1", "t1", T0.Add(time.Hour)); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("renew after complete: %v, want ErrNotOwner", err)
	}
	if err := s.ReleaseIdempotencyKey(ctx, "c1", "k1", "t1"); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("release after complete: %v, want ErrNotOwner", err)
	}
	// Later claims, even long after the lease, get the outcome.
	for _, at := range []time.Duration{time.Second, Lease * 10, TTL} {
		got := mustClaim(t, s, claimAt("c1", "k1", hashA, "t2", T0.Add(at)), false)
		if !got.Done || got.Outcome.Code != codes.OK || !bytes.Equal(got.Outcome.Body, out.Body) || got.Outcome.TOPRequestID != "top-1" ||
			!bytes.Equal(got.Hash, hashA) || got.Method != method || !got.Expires.Equal(out.Expires) {
			t.Fatalf("record at +%s = %+v", at, got)
		}
	}
	// Another request with the key is not claimed either: the caller is told.
	got := mustClaim(t, s, claimAt("c1", "k1", hashB, "t3", T0.Add(Lease*2)), false)
	if !bytes.Equal(got.Hash, hashA) {
		t.Fatalf("record = %+v", got)
	}
}

func testInFlight(t *testing.T, s idempotency.Store) {
	mustClaim(t, s, claimAt("c1", "k1", hashA, "t1", T0), true)
	for _, h := range [][]byte{hashA, hashB} {
		rec := mustClaim(t, s, claimAt("c1", "k1", h, "t2", T0.Add(Lease-time.Nanosecond)), false)
		if rec.Done || !rec.LeaseUntil.Equal(T0.Add(Lease)) {
			t.Fatalf("in-flight record = %+v", rec)
		}
	}
	// A renewed lease holds the key past the first lease.
	if err := s.RenewIdempotencyKey(context.Background(), "c1", "k1", "t1", T0.Add(2*Lease)); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, s, claimAt("c1", "k1", hashA, "t2", T0.Add(Lease)), false)
	if err := s.RenewIdempotencyKey(context.Background(), "c1", "k1", "other", T0.Add(3*Lease)); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("renew by another token: %v, want ErrNotOwner", err)
	}
}

func testScopedPerClient(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	mustClaim(t, s, claimAt("c1", "k1", hashA, "t1", T0), true)
	if err := s.CompleteIdempotencyKey(ctx, "c1", "k1", "t1", idempotency.Outcome{Hash: hashA, Code: codes.NotFound, Body: []byte("x"), Expires: T0.Add(TTL)}); err != nil {
		t.Fatal(err)
	}
	// The same key of another client (and of no client) is its own.
	for _, client := range []string{"c2", ""} {
		rec := mustClaim(t, s, claimAt(client, "k1", hashB, "t-"+client, T0.Add(time.Second)), true)
		if rec.Done {
			t.Fatalf("client %q sees %+v", client, rec)
		}
	}
	if err := s.CompleteIdempotencyKey(ctx, "c2", "k1", "t1", idempotency.Outcome{Hash: hashB, Expires: T0.Add(TTL)}); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("complete c2's key with c1's token: %v, want ErrNotOwner", err)
	}
	rec := mustClaim(t, s, claimAt("c1", "k1", hashA, "t9", T0.Add(2*time.Second)), false)
	if !rec.Done || rec.Outcome.Code != codes.NotFound || string(rec.Outcome.Body) != "x" {
		t.Fatalf("c1's record = %+v", rec)
	}
}

func testTakeOver(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	mustClaim(t, s, claimAt("c1", "k1", hashA, "dead", T0), true)
	// After the lease, another request with the key does not take it over...
	mustClaim(t, s, claimAt("c1", "k1", hashB, "t2", T0.Add(Lease)), false)
	// ... nor another RPC...
	other := claimAt("c1", "k1", hashA, "t2", T0.Add(Lease))
	other.Method = "/servicecenter.v1.WorkerService/UpdateWorker"
	mustClaim(t, s, other, false)
	// ... the same request does.
	rec := mustClaim(t, s, claimAt("c1", "k1", hashA, "t3", T0.Add(Lease)), true)
	if rec.Done || !rec.LeaseUntil.Equal(T0.Add(2*Lease)) {
		t.Fatalf("taken over = %+v", rec)
	}
	// The dead claimant can no longer complete it; the new one can.
	if err := s.CompleteIdempotencyKey(ctx, "c1", "k1", "dead", idempotency.Outcome{Hash: hashA, Expires: T0.Add(TTL)}); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("complete by the dead claimant: %v, want ErrNotOwner", err)
	}
	if err := s.CompleteIdempotencyKey(ctx, "c1", "k1", "t3", idempotency.Outcome{Hash: hashA, Code: codes.OK, Body: []byte("new"), Expires: T0.Add(TTL)}); err != nil {
		t.Fatal(err)
	}
	if rec := mustClaim(t, s, claimAt("c1", "k1", hashA, "t4", T0.Add(3*Lease)), false); string(rec.Outcome.Body) != "new" {
		t.Fatalf("record = %+v", rec)
	}
}

func testExpired(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	mustClaim(t, s, claimAt("c1", "k1", hashA, "t1", T0), true)
	if err := s.CompleteIdempotencyKey(ctx, "c1", "k1", "t1", idempotency.Outcome{Hash: hashA, Body: []byte("old"), Expires: T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, s, claimAt("c1", "k1", hashB, "t2", T0.Add(time.Hour-time.Nanosecond)), false)
	// Expired but not pruned: any request claims it anew.
	rec := mustClaim(t, s, claimAt("c1", "k1", hashB, "t3", T0.Add(time.Hour)), true)
	if rec.Done || !bytes.Equal(rec.Hash, hashB) {
		t.Fatalf("claimed anew = %+v", rec)
	}
	rec = mustClaim(t, s, claimAt("c1", "k1", hashB, "t4", T0.Add(time.Hour+time.Second)), false)
	if rec.Done || len(rec.Outcome.Body) != 0 || rec.Outcome.TOPRequestID != "" {
		t.Fatalf("new claim kept the old outcome: %+v", rec)
	}
}

func testRelease(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	mustClaim(t, s, claimAt("c1", "k1", hashA, "t1", T0), true)
	if err := s.ReleaseIdempotencyKey(ctx, "c1", "k1", "other"); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("release by another token: %v, want ErrNotOwner", err)
	}
	if err := s.ReleaseIdempotencyKey(ctx, "c1", "k1", "t1"); err != nil {
		t.Fatal(err)
	}
	// Free at once, for any request.
	mustClaim(t, s, claimAt("c1", "k1", hashB, "t2", T0.Add(time.Second)), true)
}

func testStream(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	rec := mustClaim(t, s, claimAt("c1", "k1", nil, "t1", T0), true)
	if rec.Hash != nil {
		t.Fatalf("stream claim hash = %x", rec.Hash)
	}
	if rec := mustClaim(t, s, claimAt("c1", "k1", nil, "t2", T0.Add(time.Second)), false); rec.Done || rec.Hash != nil {
		t.Fatalf("stream in flight = %+v", rec)
	}
	if err := s.CompleteIdempotencyKey(ctx, "c1", "k1", "t1", idempotency.Outcome{Hash: hashB, Code: codes.OK, Body: []byte("job"), Expires: T0.Add(TTL)}); err != nil {
		t.Fatal(err)
	}
	rec = mustClaim(t, s, claimAt("c1", "k1", nil, "t3", T0.Add(Lease*3)), false)
	if !rec.Done || !bytes.Equal(rec.Hash, hashB) || string(rec.Outcome.Body) != "job" {
		t.Fatalf("stream record = %+v", rec)
	}
}

func testPrune(t *testing.T, s idempotency.Store) {
	ctx := context.Background()
	for i := range 5 {
		c := claimAt("c1", fmt.Sprint("k", i), hashA, fmt.Sprint("t", i), T0)
		c.Expires = T0.Add(time.Duration(i+1) * time.Hour)
		mustClaim(t, s, c, true)
	}
	n, err := s.PruneIdempotencyKeys(ctx, T0.Add(3*time.Hour), 2)
	if err != nil || n != 2 {
		t.Fatalf("prune (limit 2) = %d, %v; want 2", n, err)
	}
	n, err = s.PruneIdempotencyKeys(ctx, T0.Add(3*time.Hour), 10)
	if err != nil || n != 1 {
		t.Fatalf("prune = %d, %v; want 1 (k2 expires at +3h)", n, err)
	}
	// k3 and k4 remain: still in flight at +1m (their leases are not over).
	for _, k := range []string{"k3", "k4"} {
		mustClaim(t, s, claimAt("c1", k, hashB, "x", T0.Add(time.Second)), false)
	}
	// k0 was pruned: free.
	mustClaim(t, s, claimAt("c1", "k0", hashB, "x", T0.Add(time.Second)), true)
}

func testConcurrentClaims(t *testing.T, s idempotency.Store) {
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed int
		errs    []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.ClaimIdempotencyKey(context.Background(), claimAt("c1", "k1", hashA, fmt.Sprint("t", i), T0))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				claimed++
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 || claimed != 1 {
		t.Fatalf("%d concurrent claims: %d claimed, errors %v; want exactly 1", n, claimed, errs)
	}
}
