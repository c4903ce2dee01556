package store_test

import (
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/store/storetest"
)

// TestConformance holds every backend to the same cases: one suite, two
// backends.
func TestConformance(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, b.Open)
		})
	}
}
