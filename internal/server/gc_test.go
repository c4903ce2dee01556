package server

import (
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
