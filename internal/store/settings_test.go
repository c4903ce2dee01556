package store

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
)

func TestDefaultDir(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("the user config directory there")
	}
	tests := []struct {
		name, xdg, home, want string
	}{
		{"XDG_DATA_HOME", "/xdg", "/home/u", "/xdg/servicecenterd"},
		{"a relative XDG_DATA_HOME is ignored, as the XDG spec says", "relative", "/home/u", "/home/u/.local/share/servicecenterd"},
		{"no XDG_DATA_HOME", "", "/home/v", "/home/v/.local/share/servicecenterd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_DATA_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			if d, err := DefaultDir(); err != nil || d != tt.want {
				t.Fatalf("DefaultDir = %q, %v; want %q", d, err, tt.want)
			}
			s := Settings{}
			if err := s.Validate(); err != nil || s.DataDir != tt.want {
				t.Fatalf("Validate: %q, %v; want %q", s.DataDir, err, tt.want)
			}
			s = Settings{DataDir: "/given"}
			if err := s.Validate(); err != nil || s.DataDir != "/given" {
				t.Fatalf("Validate of a given dir: %q, %v", s.DataDir, err)
			}
		})
	}
	t.Run("no home", func(t *testing.T) {
		t.Setenv("XDG_DATA_HOME", "")
		t.Setenv("HOME", "")
		s := Settings{}
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--data-dir has no default here") {
			t.Fatalf("Validate without a home: %v", err)
		}
	})
}

// TestOpenSQLite: without a database URL, Open creates the data
// directory (0700) and the SQLite store in it, and logs where.
func TestOpenSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	var logs strings.Builder
	st, err := Open(context.Background(), Settings{DataDir: dir}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if Backend(st) != "sqlite" || st.(*sqlite.Store).Path() != filepath.Join(dir, sqlite.FileName) {
		t.Errorf("opened %s at %T", Backend(st), st)
	}
	if !strings.Contains(logs.String(), "backend=sqlite") || !strings.Contains(logs.String(), "schema_version=") {
		t.Errorf("log %q", logs.String())
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v, %v", fi, err)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	under := filepath.Join(dir, sqlite.FileName, "under-a-file")
	if _, err := Open(context.Background(), Settings{DataDir: under}, slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), "--data-dir: ") {
		t.Fatalf("a data dir under a file: %v", err)
	}
}

// TestValidateDatabaseURL: a database URL is checked without connecting,
// read from its file when given so, and never shown in an error; with one,
// the data directory needs no default.
func TestValidateDatabaseURL(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "url")
	if err := os.WriteFile(file, []byte("postgres://scd:s3cret-pw@db.example:5432/scd?sslmode=verify-full\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		s       Settings
		wantErr string // "" for none
		wantURL string
	}{
		{"a URL", Settings{DatabaseURL: "postgres://scd@127.0.0.1:5432/scd"}, "", "postgres://scd@127.0.0.1:5432/scd"},
		{"postgresql scheme", Settings{DatabaseURL: "postgresql://scd@db/scd?pool_max_conns=4"}, "", "postgresql://scd@db/scd?pool_max_conns=4"},
		{"from a file", Settings{DatabaseURLFile: file}, "", "postgres://scd:s3cret-pw@db.example:5432/scd?sslmode=verify-full"},
		{"a file and a URL", Settings{DatabaseURL: "postgres://x@y/z", DatabaseURLFile: file}, "--database-url and --database-url-file are both set", ""},
		{"a missing file", Settings{DatabaseURLFile: filepath.Join(dir, "nope")}, "--database-url-file", ""},
		{"not a URL", Settings{DatabaseURL: "host=db user=scd password=s3cret-pw"}, "--database-url: want a URL postgres://", ""},
		{"another scheme", Settings{DatabaseURL: "mysql://scd:s3cret-pw@db/scd"}, "--database-url: want a URL postgres://", ""},
		{"a bad port", Settings{DatabaseURL: "postgres://scd:s3cret-pw@db:99999/scd"}, "--database-url: invalid PostgreSQL URL", ""},
		{"a bad pool size", Settings{DatabaseURL: "postgres://scd:s3cret-pw@db/scd?pool_max_conns=lots"}, "--database-url: invalid PostgreSQL URL", ""},
		{"a bad sslmode", Settings{DatabaseURL: "postgres://scd:s3cret-pw@db/scd?sslmode=maybe"}, "--database-url: invalid PostgreSQL URL", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", "")
			t.Setenv("XDG_DATA_HOME", "")
			s := tt.s
			err := s.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cret-pw"):
				t.Fatalf("the error shows the password: %v", err)
			case tt.wantErr == "" && s.DatabaseURL != tt.wantURL:
				t.Fatalf("URL %q, want %q", s.DatabaseURL, tt.wantURL)
			}
		})
	}
}

func TestRedactedURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://scd:s3cret@db:5432/scd?sslmode=require": "postgres://scd:xxxxx@db:5432/scd?sslmode=require",
		"postgres://scd@db/scd":                             "postgres://scd@db/scd",
		"postgres://db/scd?user=scd&password=s3cret":        "postgres://db/scd?password=xxxxx&user=scd",
	} {
		if got := postgres.Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}
