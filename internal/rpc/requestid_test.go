package rpc

import (
	"encoding/hex"
	"testing"
)

// TestNewRequestID: ids are 32 lowercase hex digits (128 bits) and do not
// repeat.
func TestNewRequestID(t *testing.T) {
	seen := make(map[string]bool)
	for range 10000 {
		id := NewRequestID()
		if b, err := hex.DecodeString(id); err != nil || len(b) != 16 || hex.EncodeToString(b) != id {
			t.Fatalf("NewRequestID() = %q: want 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("NewRequestID() repeated %q", id)
		}
		seen[id] = true
	}
}

// BenchmarkNewRequestID is the cost of a call's new request id.
func BenchmarkNewRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if len(NewRequestID()) != 32 {
			b.Fatal("bad id")
		}
	}
}
