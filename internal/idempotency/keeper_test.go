package idempotency_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/store/storetest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// keeperFor is a Keeper over a fresh SQLite store with a short lease.
func keeperFor(t *testing.T, lease time.Duration) (*idempotency.Keeper, idempotency.Store) {
	t.Helper()
	st := storetest.SQLite(t)
	ms, err := idempotency.Methods(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	k, err := idempotency.NewKeeper(idempotency.Options{Store: st, Methods: ms, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	return k, st
}

func callCtx(key string) context.Context {
	ctx := rpc.WithCall(context.Background(), &rpc.Call{Client: "c1"})
	return metadata.NewIncomingContext(ctx, metadata.Pairs(idempotency.KeyHeader, key))
}

var assignInfo = &grpc.UnaryServerInfo{FullMethod: scv1.WorkcardService_AssignWorker_FullMethodName}

// TestLeaseRenewedWhileRunning: a call that runs longer than the lease
// keeps its key (the lease is renewed), and its outcome is stored.
func TestLeaseRenewedWhileRunning(t *testing.T) {
	const lease = 600 * time.Millisecond
	k, st := keeperFor(t, lease)
	req := &scv1.AssignWorkerRequest{WorkcardId: 1}
	hash, _ := idempotency.Hash(req)
	peek := func() idempotency.Record {
		rec, claimed, err := st.ClaimIdempotencyKey(context.Background(), idempotency.Claim{
			Client: "c1", Key: "long", Method: assignInfo.FullMethod, Hash: hash, Token: "peek",
			Now: time.Now(), LeaseUntil: time.Now().Add(lease), Expires: time.Now().Add(time.Hour)})
		if err != nil || claimed {
			t.Fatalf("peek: claimed %v, %v: the running call lost its key", claimed, err)
		}
		return rec
	}
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := k.UnaryInterceptor()(callCtx("long"), req, assignInfo, func(ctx context.Context, _ any) (any, error) {
			close(started)
			<-release
			return &scv1.AssignWorkerResponse{Success: true}, nil
		})
		done <- err
	}()
	<-started
	first := peek().LeaseUntil
	// Three renewals later, the lease has moved on more than a lease.
	testserver.WaitFor(t, "the lease to be renewed past its first end", func() bool {
		return peek().LeaseUntil.After(first.Add(lease))
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec := peek()
	var got scv1.AssignWorkerResponse
	if !rec.Done || proto.Unmarshal(rec.Outcome.Body, &got) != nil || !got.GetSuccess() {
		t.Fatalf("stored %+v", rec)
	}
}

// TestPanicReleasesKey: a handler that panics leaves no outcome: the key is
// free for the retry.
func TestPanicReleasesKey(t *testing.T) {
	k, _ := keeperFor(t, time.Minute)
	req := &scv1.AssignWorkerRequest{WorkcardId: 1}
	func() {
		defer func() { _ = recover() }()
		_, _ = k.UnaryInterceptor()(callCtx("boom"), req, assignInfo, func(context.Context, any) (any, error) { panic("boom") })
	}()
	ran := false
	_, err := k.UnaryInterceptor()(callCtx("boom"), req, assignInfo, func(context.Context, any) (any, error) {
		ran = true
		return &scv1.AssignWorkerResponse{}, nil
	})
	if err != nil || !ran {
		t.Fatalf("retry after a panic: ran %v, %v", ran, err)
	}
	// Now stored: a third call is a replay.
	ran = false
	if _, err := k.UnaryInterceptor()(callCtx("boom"), req, assignInfo, func(context.Context, any) (any, error) {
		ran = true
		return nil, status.Error(codes.Internal, "must not run")
	}); err != nil || ran {
		t.Fatalf("replay: ran %v, %v", ran, err)
	}
}
