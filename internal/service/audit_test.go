package service

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
)

// recordingLister remembers the query it was asked.
type recordingLister struct {
	q   audit.Query
	err error
}

func (r *recordingLister) List(_ context.Context, q audit.Query) ([]audit.Event, error) {
	r.q = q
	return nil, r.err
}

func TestListAuditEventsQuery(t *testing.T) {
	start, end := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		req  *scv1.ListAuditEventsRequest
		want audit.Query
	}{
		{"defaults", &scv1.ListAuditEventsRequest{}, audit.Query{Limit: DefaultAuditPageSize + 1}},
		{"everything", &scv1.ListAuditEventsRequest{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end), Client: "c",
			Rpc: "s.S/M", Outcome: "CANCELLED", PageSize: 7},
			audit.Query{From: start, To: end, Client: "c", RPC: "/s.S/M", Outcomes: []codes.Code{codes.Canceled}, Limit: 8}},
		{"page size capped", &scv1.ListAuditEventsRequest{PageSize: 5000}, audit.Query{Limit: MaxAuditPageSize + 1}},
	}
	for _, tt := range tests {
		l := &recordingLister{}
		if _, err := NewAudit(l, nil).ListAuditEvents(context.Background(), tt.req); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := l.q
		if !got.From.Equal(tt.want.From) || !got.To.Equal(tt.want.To) || got.Client != tt.want.Client || got.RPC != tt.want.RPC ||
			got.Limit != tt.want.Limit || len(got.Outcomes) != len(tt.want.Outcomes) || (len(got.Outcomes) == 1 && got.Outcomes[0] != tt.want.Outcomes[0]) {
			t.Errorf("%s: query %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if _, err := NewAudit(&recordingLister{err: errors.New("db gone")}, nil).ListAuditEvents(context.Background(), &scv1.ListAuditEventsRequest{}); status.Code(err) != codes.Internal {
		t.Fatalf("store failure: %v", err)
	}
}

func TestPageToken(t *testing.T) {
	req := &scv1.ListAuditEventsRequest{Client: "c"}
	fp := filterFingerprint(req)
	tok := pageToken(42, fp)
	if id, ok := parsePageToken(tok, fp); !ok || id != 42 {
		t.Fatalf("round trip: %d %v", id, ok)
	}
	if _, ok := parsePageToken(tok, filterFingerprint(&scv1.ListAuditEventsRequest{Client: "d"})); ok {
		t.Fatal("token accepted with other filters")
	}
	if _, ok := parsePageToken(tok, filterFingerprint(&scv1.ListAuditEventsRequest{Client: "c", PageSize: 3})); !ok {
		t.Fatal("page size is not a filter")
	}
	for _, bad := range []string{"", "!!", pageToken(0, fp), pageToken(-1, fp), tok[:len(tok)-2]} {
		if _, ok := parsePageToken(bad, fp); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
}

// TestCodeNames: an event's outcome is named as in google.rpc.Code, and
// the outcome filter takes those names only.
func TestCodeNames(t *testing.T) {
	names := []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
		"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	for i, name := range names {
		c := codes.Code(i)
		if got := codeName(c); got != name {
			t.Errorf("codeName(%v) = %s, want %s", c, got, name)
		}
		if got, ok := codeByName(name); !ok || got != c {
			t.Errorf("codeByName(%s) = %v, %v; want %v", name, got, ok, c)
		}
	}
	for c, want := range map[codes.Code]string{17: "CODE_17", 1 << 31: "CODE_2147483648", math.MaxUint32: "CODE_4294967295"} {
		if got := codeName(c); got != want {
			t.Errorf("codeName(%d) = %s, want %s", c, got, want)
		}
	}
	for _, bad := range []string{"", "Canceled", "cancelled", "CODE_17", "17", "OK "} {
		if c, ok := codeByName(bad); ok {
			t.Errorf("codeByName(%q) = %v", bad, c)
		}
	}
}
