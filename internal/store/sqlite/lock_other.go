//go:build !unix

package sqlite

import (
	"fmt"
	"os"
)

// lockStore creates path+".lock"; without flock, it does not keep a
// second process out (run one servicecenterd per data directory).
func lockStore(path string) (release func() error, err error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return f.Close, nil
}
