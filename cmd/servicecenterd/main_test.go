package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for success
		wantOut string
	}{
		{"flags alone mean serve", []string{"--grpc-addr", "nope"}, `--grpc-addr "nope" is not host:port`, ""},
		{"serve validates", []string{"serve", "--top-url", "ftp://x", "--top-app-key", "k", "--top-app-secret", "s3cr3t"}, "--top-url", ""},
		{"version", []string{"version"}, "", "servicecenterd "},
		{"unknown command", []string{"serve-all"}, `unknown command "serve-all"`, "Commands:"},
		{"help", []string{"help"}, "", "emulator"},
		{"emulator flags are the emulator's", []string{"emulator", "--addr", "0.0.0.0:1"}, "not a loopback address", ""},
		{"refuses to listen beyond loopback without authentication", []string{"--http-addr", "0.0.0.0:8080"}, "--insecure-allow-unauthenticated", ""},
		{"config check needs a file", []string{"config", "check"}, "want a FILE", "config check FILE"},
		{"config check of a missing file", []string{"config", "check", "/nonexistent.yaml"}, "read config file", ""},
		{"config reference", []string{"config", "reference"}, "", "| `--clients-file` |"},
		{"token generate", []string{"token", "generate"}, "", "token_sha256:"},
		{"token unknown", []string{"token", "show"}, `unknown command "show"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(stdout.String()+stderr.String(), tt.wantOut) {
				t.Fatalf("output %q lacks %q", stdout.String()+stderr.String(), tt.wantOut)
			}
		})
	}
}
