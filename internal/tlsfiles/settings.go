package tlsfiles

import (
	"errors"
	"time"
)

// Settings are the TLS settings of `servicecenterd serve`: flags,
// SERVICECENTERD_* variables and YAML keys (internal/config). The reload
// interval also paces the clients file's watch (internal/auth).
type Settings struct {
	CertFile       string        `flag:"tls-cert-file" help:"PEM certificate chain of the gRPC, HTTP and metrics listeners; with --tls-key-file it turns TLS on. Reloaded when it changes."`
	KeyFile        string        `flag:"tls-key-file" help:"PEM private key of --tls-cert-file."`
	ClientCAFile   string        `flag:"tls-client-ca-file" help:"PEM CA certificates that client certificates must chain to: turns on mTLS (needs --tls-cert-file). A certificate's SAN names its client."`
	ReloadInterval time.Duration `flag:"reload-interval" default:"10s" help:"How often the TLS files and the clients file are checked for changes; 0 turns reloading off."`
}

// Validate checks the settings and, when TLS is on, loads the files once.
// Errors name the flag or the file.
func (s Settings) Validate() error {
	var errs []error
	switch {
	case (s.CertFile == "") != (s.KeyFile == ""):
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file go together"))
	case s.ClientCAFile != "" && s.CertFile == "":
		errs = append(errs, errors.New("--tls-client-ca-file (mTLS) needs --tls-cert-file and --tls-key-file"))
	case s.On():
		if err := s.Files().Check(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.ReloadInterval < 0 {
		errs = append(errs, errors.New("--reload-interval must not be negative"))
	}
	return errors.Join(errs...)
}

// On reports whether the listeners serve TLS.
func (s Settings) On() bool { return s.CertFile != "" }

// VerifiesClients reports whether client certificates are verified
// (mTLS): they then identify callers.
func (s Settings) VerifiesClients() bool { return s.ClientCAFile != "" }

// Files are the settings' files.
func (s Settings) Files() Files {
	return Files{CertFile: s.CertFile, KeyFile: s.KeyFile, ClientCAFile: s.ClientCAFile}
}
