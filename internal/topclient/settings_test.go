package topclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/config"
)

// defaultSettings are the flags' defaults.
func defaultSettings(t *testing.T) Settings {
	t.Helper()
	var s Settings
	if err := config.Defaults(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSettingsValidate(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cr3t-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Settings)
		want   string // the whole error; "" for valid
	}{
		{"defaults: the embedded emulator", func(*Settings) {}, ""},
		{"real TOP", func(s *Settings) { s.URL, s.AppKey, s.AppSecret = "sandbox", "k", "s3cr3t" }, ""},
		{"secret from a file", func(s *Settings) { s.URL, s.AppKey, s.AppSecretFile = "production", "k", secretFile }, ""},
		{"real TOP without credentials", func(s *Settings) { s.URL = "https://gw.example.com/router/rest" },
			"--top-app-key is required with --top-url\n--top-app-secret or --top-app-secret-file is required with --top-url"},
		{"every problem, in order", func(s *Settings) {
			s.SignMethod, s.AppSecret, s.AppSecretFile, s.SessionFile = "sha1", "s3cr3t", secretFile, filepath.Join(dir, "none")
			s.URL, s.Timeout, s.MaxAttempts, s.RateBurst = "ftp://x", 0, 11, -1
		}, `--top-sign-method: unsupported sign method "sha1" (want md5, hmac or hmac-sha256)` + "\n" +
			"--top-app-secret and --top-app-secret-file are both set; use one\n" +
			"--top-session-file: open " + filepath.Join(dir, "none") + ": no such file or directory\n" +
			`--top-url: URL must be "production", "sandbox", "overseas" or an http(s) URL` + "\n" +
			"--top-app-key is required with --top-url\n" +
			"--top-timeout must be positive\n--top-max-attempts must be 1 to 10\n" +
			"--top-rate-limit and --top-rate-burst must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := defaultSettings(t)
			tt.mutate(&s)
			err := s.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("Validate:\n%s\nwant:\n%s", got, tt.want)
			}
			if strings.Contains(got, "s3cr3t") {
				t.Fatalf("an error shows a secret: %s", got)
			}
		})
	}
}

// TestSettingsConfig: the settings become the client's Config, the secret
// read from its file; a client is built from it.
func TestSettingsConfig(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cr3t\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := defaultSettings(t)
	s.URL, s.AppKey, s.AppSecretFile, s.Session = "sandbox", "k", secretFile, "sess"
	s.SignMethod, s.Timeout, s.MaxAttempts, s.RateLimit, s.RateBurst = "md5", 3*time.Second, 5, 2.5, 4
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{URL: "sandbox", AppKey: "k", AppSecret: "s3cr3t", Session: "sess", SignMethod: "md5",
		Timeout: 3 * time.Second, MaxAttempts: 5, RateLimit: 2.5, RateBurst: 4}
	got := s.Config()
	if got.URL != want.URL || got.AppKey != want.AppKey || got.AppSecret != want.AppSecret || got.Session != want.Session ||
		got.SignMethod != want.SignMethod || got.Timeout != want.Timeout || got.MaxAttempts != want.MaxAttempts ||
		got.RateLimit != want.RateLimit || got.RateBurst != want.RateBurst {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
	c, err := New(got)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !defaultSettings(t).Embedded() || s.Embedded() {
		t.Error("Embedded")
	}
}
