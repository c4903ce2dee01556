package store

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
)

// Settings are the store's settings of `servicecenterd serve`: flags,
// SERVICECENTERD_* variables and YAML keys (internal/config).
type Settings struct {
	// DataDir is the directory of the SQLite store's file
	// (sqlite.FileName), without DatabaseURL.
	DataDir string `flag:"data-dir" help:"Directory of the embedded durable store (servicecenterd.db: bulk blacklist sync jobs and the audit trail), without --database-url. Empty: $XDG_DATA_HOME/servicecenterd, else ~/.local/share/servicecenterd (on macOS and Windows, servicecenterd in the user config directory)."`
	// DatabaseURL selects PostgreSQL instead of SQLite.
	DatabaseURL string `flag:"database-url" secret:"true" help:"PostgreSQL URL of the durable store that replicas share, instead of SQLite in --data-dir: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=verify-full&pool_max_conns=16...] (pgx's parameters; the password may also come from PGPASSWORD or ~/.pgpass). The schema is migrated at start."`
	// DatabaseURLFile holds DatabaseURL.
	DatabaseURLFile string `flag:"database-url-file" help:"File holding --database-url (it holds the password); trailing newlines are ignored."`
}

// Validate reads DatabaseURL from its file and checks it (without
// connecting); without one, it fills an empty DataDir with DefaultDir
// and fails when there is no default here.
func (s *Settings) Validate() error {
	if err := config.SecretFile(&s.DatabaseURL, s.DatabaseURLFile, "database-url"); err != nil {
		return err
	}
	if s.DatabaseURL != "" {
		if _, err := postgres.ParseURL(s.DatabaseURL); err != nil {
			return fmt.Errorf("--database-url: %w", err)
		}
		return nil
	}
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
