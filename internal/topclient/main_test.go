package topclient

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind (a body
// never closed, a connection never released, a retry loop still sleeping).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
