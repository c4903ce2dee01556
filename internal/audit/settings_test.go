package audit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

func TestSettingsValidate(t *testing.T) {
	for _, tt := range []struct {
		retention time.Duration
		valid     bool
	}{
		{0, true}, {time.Hour, true}, {2160 * time.Hour, true},
		{time.Hour - time.Nanosecond, false}, {time.Minute, false}, {-time.Hour, false},
	} {
		err := Settings{Retention: tt.retention}.Validate()
		if (err == nil) != tt.valid || (err != nil && err.Error() != "--audit-retention must be 0 (keep forever) or at least 1h") {
			t.Errorf("Validate(%v) = %v", tt.retention, err)
		}
	}
}

// TestNewTrail: every event goes to the log and to the store; a retention
// runs only with a store and a period; fail-closed only with a store.
func TestNewTrail(t *testing.T) {
	tests := []struct {
		name          string
		s             Settings
		store         bool
		wantRetention bool
		wantFailClose bool
	}{
		{"log only", Settings{Retention: 48 * time.Hour, FailClosed: true}, false, false, false},
		{"store, kept forever", Settings{}, true, false, false},
		{"store and retention", Settings{Retention: 48 * time.Hour}, true, true, false},
		{"fail closed", Settings{FailClosed: true}, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var store Store
			mem := NewMemory()
			if tt.store {
				store = mem
			}
			failed := 0
			a, r, err := NewTrail(tt.s, store, testPlan(t), TrailHooks{WriteFailed: func() { failed++ }}, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if (r != nil) != tt.wantRetention || a.opts.FailClosed != tt.wantFailClose || failed != 0 {
				t.Fatalf("retention %v, fail closed %v, %d failures", r != nil, a.opts.FailClosed, failed)
			}
			ctx := rpc.WithCall(context.Background(), &rpc.Call{RequestID: "r-1"})
			handler := func(context.Context, any) (any, error) { return "ok", nil }
			for _, m := range []string{mutate, read} {
				if _, err := a.UnaryInterceptor()(ctx, &scv1.BindVirtualPhoneRequest{WorkcardId: 5}, &grpc.UnaryServerInfo{FullMethod: m}, handler); err != nil {
					t.Fatal(err)
				}
			}
			if n := strings.Count(logs.String(), `"component":"audit"`); n != 1 {
				t.Errorf("%d audit log lines, want 1 (the audited method's):\n%s", n, logs.String())
			}
			want := 0
			if tt.store {
				want = 1
			}
			if got := mem.Events(); len(got) != want || (want == 1 && got[0].RPC != mutate) {
				t.Errorf("stored %+v, want %d event of /s.S/Mutate", got, want)
			}
		})
	}
}
