package server

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	restore := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(restore) })
	tests := []struct {
		name        string
		env         map[string]string
		wantShown   string
		wantPercent int
	}{
		{"default", nil, "400", DefaultGCPercent},
		{"GOGC from the environment wins", map[string]string{"GOGC": "150"}, "150", 100},
		{"GOGC=off is kept", map[string]string{"GOGC": "off"}, "off", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			shown := tuneGC(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if got := debug.SetGCPercent(100); shown != tt.wantShown || got != tt.wantPercent {
				t.Errorf("tuneGC = %q with GC percent %d; want %q, %d", shown, got, tt.wantShown, tt.wantPercent)
			}
		})
	}
}

// TestIdleHeap: the heap is released after an interval without a
// collection, once, and again only after collections ran in between.
func TestIdleHeap(t *testing.T) {
	var n uint64 // GC cycles
	releases := 0
	h := &idleHeap{cycles: func() uint64 { return n }, release: func() { releases++; n++ }}
	steps := []struct {
		name    string
		gcs     uint64 // collections since the previous check
		release bool
	}{
		{"first look: nothing to compare", 0, false},
		{"under load", 5, false},
		{"still under load", 3, false},
		{"load ended: released", 0, true},
		{"idle, released already", 0, false},
		{"still idle", 0, false},
		{"a new load", 4, false},
		{"it ended: released again", 0, true},
	}
	for _, s := range steps {
		n += s.gcs
		before := releases
		if got := h.check(); got != s.release || (releases > before) != s.release {
			t.Fatalf("%s: check() = %v (releases %d -> %d), want %v", s.name, got, before, releases, s.release)
		}
	}
}

// TestIdleHeapReadsCycles: the runtime's GC cycle count is read.
func TestIdleHeapReadsCycles(t *testing.T) {
	h := newIdleHeap()
	before := h.cycles()
	runtime.GC()
	if after := h.cycles(); after <= before {
		t.Fatalf("GC cycles %d after a collection, %d before", after, before)
	}
}
