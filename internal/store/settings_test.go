package store

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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

// TestOpenDir: OpenDir creates the directory (0700) and the store in it.
func TestOpenDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := OpenDir(context.Background(), Settings{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != filepath.Join(dir, FileName) {
		t.Errorf("path %s", s.Path())
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v, %v", fi, err)
	}
	if _, err := OpenDir(context.Background(), Settings{DataDir: filepath.Join(s.Path(), "under-a-file")}, slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), "--data-dir: ") {
		t.Fatalf("a data dir under a file: %v", err)
	}
}
