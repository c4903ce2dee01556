package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// Settings are the store's settings of `servicecenterd serve`: flags,
// SERVICECENTERD_* variables and YAML keys (internal/config).
type Settings struct {
	// DataDir is the directory of the store's file (FileName).
	DataDir string `flag:"data-dir" help:"Directory of the durable store (servicecenterd.db: bulk blacklist sync jobs and the audit trail). Empty: $XDG_DATA_HOME/servicecenterd, else ~/.local/share/servicecenterd (on macOS and Windows, servicecenterd in the user config directory)."`
}

// Validate fills an empty DataDir with DefaultDir; it fails when there is
// no default here.
func (s *Settings) Validate() error {
	if s.DataDir != "" {
		return nil
	}
	dir, err := DefaultDir()
	s.DataDir = dir
	if err != nil {
		return fmt.Errorf("--data-dir has no default here (%w): set it", err)
	}
	return nil
}

// DefaultDir is where servicecenterd keeps its store unless --data-dir
// says otherwise: $XDG_DATA_HOME/servicecenterd, else
// ~/.local/share/servicecenterd (the XDG base directory default); on macOS
// and Windows, servicecenterd in the user config directory (~/Library/
// Application Support, %AppData%). Not a cache directory: the store holds
// jobs that must not be lost.
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "servicecenterd"), nil
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "servicecenterd"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "servicecenterd"), nil
}

// OpenDir opens (creating the directory, mode 0700, and the file,
// migrating it) the store in the validated settings' DataDir, and logs
// its path and schema version.
func OpenDir(ctx context.Context, s Settings, logger *slog.Logger, opts ...Option) (*SQLite, error) {
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	path := filepath.Join(s.DataDir, FileName)
	st, err := Open(ctx, path, opts...)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	version, _ := st.SchemaVersion(ctx)
	logger.Info("store opened", slog.String("path", path), slog.Int("schema_version", version))
	return st, nil
}
