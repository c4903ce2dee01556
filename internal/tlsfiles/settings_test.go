package tlsfiles

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/testutil/testpki"
)

func TestSettingsValidate(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ca")
	certFile, keyFile := ca.Localhost(t).WriteFiles(t, dir, "a")
	caFile := filepath.Join(dir, "ca.pem")
	testpki.WriteFile(t, caFile, ca.PEM)
	tests := []struct {
		name string
		s    Settings
		want string // substring of the error; "" for valid
	}{
		{"off", Settings{ReloadInterval: 10 * time.Second}, ""},
		{"TLS", Settings{CertFile: certFile, KeyFile: keyFile}, ""},
		{"mTLS, no reloading", Settings{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, ""},
		{"a cert without its key", Settings{CertFile: certFile}, "--tls-cert-file and --tls-key-file go together"},
		{"a key without its cert", Settings{KeyFile: keyFile}, "--tls-cert-file and --tls-key-file go together"},
		{"mTLS without TLS", Settings{ClientCAFile: caFile}, "--tls-client-ca-file (mTLS) needs --tls-cert-file and --tls-key-file"},
		{"files that do not load", Settings{CertFile: certFile, KeyFile: filepath.Join(dir, "none")}, "no such file"},
		{"negative interval", Settings{ReloadInterval: -time.Second}, "--reload-interval must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
	s := Settings{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}
	if !s.On() || !s.VerifiesClients() || (Settings{}).On() || (Settings{CertFile: certFile, KeyFile: keyFile}).VerifiesClients() {
		t.Error("On or VerifiesClients")
	}
	if f := s.Files(); f != (Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}) {
		t.Errorf("Files() = %+v", f)
	}
}
