package idempotency_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoregistry"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
)

func TestValidKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"", false},
		{"a", true},
		{" ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", true},
		{strings.Repeat("k", idempotency.MaxKeyLen), true},
		{strings.Repeat("k", idempotency.MaxKeyLen+1), false},
		{"tab\t", false},
		{"del\x7f", false},
		{"nul\x00", false},
		{"é", false},
		{"8e5d1c2a-1b3f-4c8e-9a7b-2f6d0e4c1a9b", true},
	} {
		if got := idempotency.ValidKey(tc.key); got != tc.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestTransient(t *testing.T) {
	transient := map[codes.Code]bool{codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true, codes.Canceled: true}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if got := idempotency.Transient(c); got != transient[c] {
			t.Errorf("Transient(%s) = %v, want %v", c, got, transient[c])
		}
	}
}

// TestMethods: the RPCs that take a key are the ones whose proto says so,
// and nothing else.
func TestMethods(t *testing.T) {
	ms, err := idempotency.Methods(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		scv1.LogisticsService_ImportUserBlacklist_FullMethodName,
		scv1.WorkcardService_AssignWorker_FullMethodName,
		scv1.WorkcardService_BindVirtualPhone_FullMethodName,
		scv1.WorkerService_UpdateWorker_FullMethodName,
	}
	got := idempotency.Names(ms)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("keyed RPCs = %v, want %v", got, want)
	}
	if !ms[scv1.LogisticsService_ImportUserBlacklist_FullMethodName].ClientStream || ms[scv1.WorkcardService_AssignWorker_FullMethodName].ClientStream {
		t.Fatal("stream flags wrong")
	}
}

func TestHashDeterministic(t *testing.T) {
	a, err := idempotency.Hash(&scv1.AssignWorkerRequest{WorkcardId: 1, OuterId: "x"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := idempotency.Hash(&scv1.AssignWorkerRequest{OuterId: "x", WorkcardId: 1})
	c, _ := idempotency.Hash(&scv1.AssignWorkerRequest{WorkcardId: 2, OuterId: "x"})
	if string(a) != string(b) || string(a) == string(c) || len(a) != 32 {
		t.Fatalf("hashes %x %x %x", a, b, c)
	}
}
