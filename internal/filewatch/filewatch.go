// Package filewatch notices when files change, by polling their
// contents: no inotify dependency, and it works with files replaced
// through renames or symlink swaps (as Kubernetes mounts secrets).
package filewatch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Watcher remembers a fingerprint (the SHA-256 of each file's contents,
// or that it is missing) of a set of files.
type Watcher struct {
	files []string
	last  [][sha256.Size]byte
}

// missing is the fingerprint of a file that does not exist.
var missing = [sha256.Size]byte{}

// New returns a Watcher of files, remembering how they are now.
func New(files ...string) (*Watcher, error) {
	w := &Watcher{files: files}
	fp, err := w.fingerprint()
	if err != nil {
		return nil, err
	}
	w.last = fp
	return w, nil
}

// Changed reports whether any file changed since New or the last call
// that reported a change, and remembers the new state.
func (w *Watcher) Changed() (bool, error) {
	fp, err := w.fingerprint()
	if err != nil {
		return false, err
	}
	for i := range fp {
		if fp[i] != w.last[i] {
			w.last = fp
			return true, nil
		}
	}
	return false, nil
}

func (w *Watcher) fingerprint() ([][sha256.Size]byte, error) {
	out := make([][sha256.Size]byte, len(w.files))
	for i, f := range w.files {
		data, err := os.ReadFile(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out[i] = missing
		case err != nil:
			return nil, fmt.Errorf("watch %s: %w", f, err)
		default:
			out[i] = sha256.Sum256(data)
		}
	}
	return out, nil
}

// Poll checks w every interval until ctx is done and calls onChange after
// each change; errors reading the files go to onError. It returns when ctx
// is done.
func Poll(ctx context.Context, w *Watcher, interval time.Duration, onChange func(), onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := w.Changed()
		switch {
		case err != nil:
			onError(err)
		case changed:
			onChange()
		}
	}
}
