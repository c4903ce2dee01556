package audit_test

import (
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/audit/audittest"
)

func TestMemoryStore(t *testing.T) {
	audittest.TestStore(t, func(*testing.T) audit.Store { return audit.NewMemory() })
}
