//go:build !unix

package store

import (
	"fmt"
	"os"
)

// lockFile creates path; without flock, it does not keep a second
// process out (run one servicecenterd per data directory).
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return f, nil
}
