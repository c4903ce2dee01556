package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceMatchesDocs fails when docs/configuration.md differs from
// the settings in the code: run make docs.
func TestReferenceMatchesDocs(t *testing.T) {
	want, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/configuration.md is stale: run make docs")
	}
	for _, flag := range []string{"--clients-file", "--tls-client-ca-file", "--metrics-addr", "--rate-limit", "--default-deadline", "--top-app-secret-file"} {
		if !strings.Contains(want, "`"+flag+"`") {
			t.Errorf("reference lacks %s", flag)
		}
	}
}

func noEnv(string) (string, bool) { return "", false }

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secretFile := write("secret", "s3cr3t-app-secret\n")
	clients := write("clients.yaml", "clients:\n  - name: billing\n    token_sha256: ["+strings.Repeat("ab", 32)+"]\n    allow: [servicecenter.v1.WorkerService/GetWorkerTags]\n")
	typoClients := write("typo-clients.yaml", "clients:\n  - name: billing\n    token_sha256: ["+strings.Repeat("ab", 32)+"]\n    allow: [servicecenter.v1.WorkerService/GetWorkerTag]\n")
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		flags   []string
		wantErr []string
		wantOut []string
	}{
		{
			name: "valid, with sources and redaction",
			yaml: "grpc_addr: 0.0.0.0:9090\ntop_url: sandbox\ntop_app_key: k1\ntop_session: s3cr3t-session\ntop_app_secret_file: " + secretFile + "\nclients_file: " + clients + "\n",
			env:  map[string]string{"SERVICECENTERD_LOG_LEVEL": "debug"},
			wantOut: []string{
				"grpc_addr", "0.0.0.0:9090", "file", "top_session  ", "[REDACTED]", "log_level", "debug", "env",
				"http_addr", "127.0.0.1:8080", "default", "is valid.",
			},
		},
		{
			name:    "flag wins",
			yaml:    "log_level: warn\n",
			flags:   []string{"--log-level", "error"},
			wantOut: []string{"error   ", "flag"},
		},
		{
			name:    "beyond loopback without authentication",
			yaml:    "http_addr: 0.0.0.0:8080\n",
			wantErr: []string{"is invalid", "refusing to listen beyond loopback (--http-addr 0.0.0.0:8080)", "--insecure-allow-unauthenticated"},
		},
		{
			name:    "several problems at once",
			yaml:    "top_url: ftp://x\ntop_app_secret: s3cr3t-inline\ntls_key_file: /nonexistent\nrate_limit: -1\nclients_file: " + typoClients + "\n",
			wantErr: []string{"--top-url", "--top-app-key is required", "--tls-cert-file and --tls-key-file go together", "--rate-limit", "service servicecenter.v1.WorkerService has no method GetWorkerTag"},
		},
		{
			name:    "unknown key",
			yaml:    "grpc_adr: x\n",
			wantErr: []string{`unknown setting "grpc_adr" (did you mean grpc_addr?)`},
		},
		{
			name:    "every unknown key at once",
			yaml:    "grpc_adr: x\nloglevel: debug\n",
			wantErr: []string{`unknown settings "grpc_adr" (did you mean grpc_addr?), "loglevel" (did you mean log_level?)`},
		},
		{
			name:    "the data directory as it will be used",
			yaml:    "log_level: info\n",
			wantOut: []string{"data_dir   ", "/xdg-data/servicecenterd  default (for this user)"},
		},
	}
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "xdg-data"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := write("c.yaml", tt.yaml)
			var out bytes.Buffer
			getenv := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			err := checkConfig(file, tt.flags, getenv, &out)
			text := out.String()
			if err != nil {
				text += err.Error()
			}
			if (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v\n%s", err, out.String())
			}
			for _, want := range append(tt.wantOut, tt.wantErr...) {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			for _, secret := range []string{"s3cr3t"} {
				if strings.Contains(text, secret) {
					t.Errorf("output shows a secret:\n%s", text)
				}
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runConfig([]string{"check"}, noEnv, &out, &errOut); err == nil || !strings.Contains(errOut.String(), "config check FILE") {
		t.Fatalf("err %v, stderr %q", err, errOut.String())
	}
	out.Reset()
	if err := runConfig([]string{"reference"}, noEnv, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "# Configuration reference") {
		t.Fatalf("reference: %v %q", err, out.String()[:min(40, out.Len())])
	}
}

// TestHelpExitsZero: -h on any command prints its usage and exits 0, as
// main's exitCode says; a mistake exits 1.
func TestHelpExitsZero(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"config", "check", "-h"}, 0, "config check FILE [serve flags]"},
		{[]string{"config", "check", "--help"}, 0, "config check FILE [serve flags]"},
		{[]string{"config", "-h"}, 0, "config reference"},
		{[]string{"config", "reference", "-h"}, 0, "config reference"},
		{[]string{"config", "check", "c.yaml", "-h"}, 0, "-grpc-addr"},
		{[]string{"version", "-h"}, 0, "Usage: servicecenterd version"},
		{[]string{"version", "extra"}, 1, "Usage: servicecenterd version"},
		{[]string{"blacklist", "import", "-h"}, 0, "5  BLACKLIST_REASON_OTHER                other (其他)"},
		{[]string{"emulator", "-h"}, 0, "-state-file"},
		{[]string{"config", "check"}, 1, "config check FILE"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), tt.args, &out, &errOut)
			if code := exitCode(err); code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.wantCode)
			}
			if text := out.String() + errOut.String(); !strings.Contains(text, tt.wantOut) {
				t.Fatalf("output lacks %q:\n%s", tt.wantOut, text)
			}
		})
	}
	if got := exitCode(errors.New("x")); got != 1 {
		t.Errorf("exitCode(error) = %d", got)
	}
}
