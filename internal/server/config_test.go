package server_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
)

// TestEverySettingInASection: server composes the components' sections
// and has no loose setting of its own, in the order of
// docs/configuration.md.
func TestEverySettingInASection(t *testing.T) {
	t.Parallel()
	settings, err := config.Settings(&server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var sections []string
	for _, s := range settings {
		if s.Section == "" {
			t.Errorf("--%s is in no section", s.Flag)
			continue
		}
		if len(sections) == 0 || sections[len(sections)-1] != s.Section {
			sections = append(sections, s.Section)
		}
	}
	want := []string{"listen", "top", "emulator", "store", "redis", "sync", "process", "auth", "tls", "grpc", "http", "rate_limit", "metrics", "audit", "tmc", "events", "idempotency"}
	if !slices.Equal(sections, want) {
		t.Errorf("sections %v, want %v", sections, want)
	}
}

// TestValidateNamesEveryProblem: Validate reports every problem at once,
// one per line, section by section, the cross-section rule last.
func TestValidateNamesEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var c server.Config
	if err := config.Defaults(&c); err != nil {
		t.Fatal(err)
	}
	c.Listen.GRPCAddr, c.Listen.HTTPAddr = "nope", "0.0.0.0:8080"
	c.Emulator.Addr = "10.0.0.1:0"
	c.TOP.SignMethod, c.TOP.Timeout = "sha1", 0
	c.Store.DataDir = dir
	c.Sync.ChunkSize = 101
	c.Process.LogFormat = "xml"
	c.Auth.OpenEndpoints = []string{"bogus"}
	c.TLS.CertFile = filepath.Join(dir, "cert.pem")
	c.Metrics.Addr = "nohostport"
	c.GRPC.MaxRecvMsgSize, c.GRPC.KeepaliveTime = 10, 0
	c.HTTP.MaxBodySize, c.HTTP.UploadMinRate, c.HTTP.UploadRateWindow = 10, 1, 0
	c.RateLimit.Burst = -1
	c.Audit.Retention = time.Minute
	c.TMC.URL, c.TMC.Group = "http://mc.api.taobao.com/", ""
	c.Events.Retention = time.Minute
	err := c.Validate()
	if err == nil {
		t.Fatal("valid")
	}
	want := []string{
		`--grpc-addr "nope" is not host:port`,
		`--emulator-addr "10.0.0.1:0" is not a loopback address`,
		`--top-sign-method: unsupported sign method "sha1"`,
		`--top-timeout must be positive`,
		`--sync-chunk-size must be 1 to 100`,
		`--log-format "xml": want text or json`,
		`--open-endpoints: "bogus": want health, reflection or metrics`,
		`--tls-cert-file and --tls-key-file go together`,
		`--metrics-addr "nohostport" is not host:port`,
		`--grpc-max-recv-msg-size must be at least 1024 bytes`,
		`--grpc-keepalive-time must be positive`,
		`--http-max-body-size must be at least 1024 bytes`,
		`--http-upload-rate-window must be positive`,
		`--rate-limit and --rate-burst must not be negative`,
		`--audit-retention must be 0 (keep forever) or at least 1h`,
		`--tmc-url: want "production", "sandbox", "off" or a ws:// or wss:// URL`,
		`--tmc-group: want 1 to 64 characters without spaces`,
		`--event-retention must be 0 (keep forever) or at least 1h`,
		`refusing to listen beyond loopback (--grpc-addr nope, --http-addr 0.0.0.0:8080, --metrics-addr nohostport)`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d: %q, want it to start with %q", i, lines[i], w)
		}
	}
}

// TestEmptyHTTPAddr: --http-addr "" is valid (gRPC only) and no listener
// for the loopback check; a bad address is still refused.
func TestEmptyHTTPAddr(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		grpcAddr string
		httpAddr string
		want     string // "" for valid
	}{
		{"gRPC only", "127.0.0.1:9090", "", ""},
		{"gRPC only, beyond loopback, names only the gRPC listener", "0.0.0.0:9090", "", "refusing to listen beyond loopback (--grpc-addr 0.0.0.0:9090) without"},
		{"a bad HTTP address", "127.0.0.1:9090", "8080", `--http-addr "8080" is not host:port`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c server.Config
			if err := config.Defaults(&c); err != nil {
				t.Fatal(err)
			}
			c.Store.DataDir = t.TempDir()
			c.Listen.GRPCAddr, c.Listen.HTTPAddr = tt.grpcAddr, tt.httpAddr
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
