package topclient

import (
	"errors"
	"fmt"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Settings are the TOP client's settings of `servicecenterd serve`: flags,
// SERVICECENTERD_* variables and YAML keys (internal/config). An empty URL
// means the embedded emulator, whose address and credentials the server
// fills in (Config).
type Settings struct {
	URL           string        `flag:"top-url" help:"TOP gateway: production, sandbox, overseas or an http(s) URL. Empty runs the embedded emulator with its demo data."`
	AppKey        string        `flag:"top-app-key" help:"TOP app key (required with --top-url)."`
	AppSecret     string        `flag:"top-app-secret" secret:"true" help:"TOP app secret (required with --top-url, or use --top-app-secret-file)."`
	AppSecretFile string        `flag:"top-app-secret-file" help:"File holding the TOP app secret; trailing newlines are ignored."`
	Session       string        `flag:"top-session" secret:"true" help:"TOP session (access token) sent with the tmall.* methods."`
	SessionFile   string        `flag:"top-session-file" help:"File holding the TOP session; trailing newlines are ignored."`
	SignMethod    string        `flag:"top-sign-method" default:"hmac-sha256" help:"TOP signature method: md5, hmac or hmac-sha256."`
	Timeout       time.Duration `flag:"top-timeout" default:"15s" help:"Timeout of one TOP call when the caller's deadline is later or unset."`
	MaxAttempts   int           `flag:"top-max-attempts" default:"3" help:"Attempts per TOP call, retries included (retries only where safe)."`
	RateLimit     float64       `flag:"top-rate-limit" default:"0" help:"TOP calls per second for the app key (token bucket); 0 is no limit."`
	RateBurst     int           `flag:"top-rate-burst" default:"0" help:"Token bucket burst; 0 means the rate rounded up."`
}

// MaxAttemptsLimit is the most attempts per call the settings accept.
const MaxAttemptsLimit = 10

// Validate checks the settings and reads the secrets from their files
// (AppSecretFile, SessionFile) into AppSecret and Session. Errors name the
// flag, never a secret's value.
func (s *Settings) Validate() error {
	var errs []error
	if _, err := top.ParseSignMethod(s.SignMethod); err != nil {
		errs = append(errs, fmt.Errorf("--top-sign-method: %w", err))
	}
	if err := config.SecretFile(&s.AppSecret, s.AppSecretFile, "top-app-secret"); err != nil {
		errs = append(errs, err)
	}
	if err := config.SecretFile(&s.Session, s.SessionFile, "top-session"); err != nil {
		errs = append(errs, err)
	}
	if !s.Embedded() {
		if _, err := ResolveURL(s.URL); err != nil {
			errs = append(errs, fmt.Errorf("--top-url: %w", err))
		}
		if s.AppKey == "" {
			errs = append(errs, errors.New("--top-app-key is required with --top-url"))
		}
		if s.AppSecret == "" {
			errs = append(errs, errors.New("--top-app-secret or --top-app-secret-file is required with --top-url"))
		}
	}
	if s.Timeout <= 0 {
		errs = append(errs, errors.New("--top-timeout must be positive"))
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > MaxAttemptsLimit {
		errs = append(errs, fmt.Errorf("--top-max-attempts must be 1 to %d", MaxAttemptsLimit))
	}
	if s.RateLimit < 0 || s.RateBurst < 0 {
		errs = append(errs, errors.New("--top-rate-limit and --top-rate-burst must not be negative"))
	}
	return errors.Join(errs...)
}

// Embedded reports whether the settings name no TOP gateway, so that the
// embedded emulator stands in for TOP.
func (s Settings) Embedded() bool { return s.URL == "" }

// Config is the client configuration of validated settings. With
// Embedded settings, the caller sets URL, AppKey, AppSecret and Session
// to the emulator's.
func (s Settings) Config() Config {
	return Config{
		URL:         s.URL,
		AppKey:      s.AppKey,
		AppSecret:   s.AppSecret,
		Session:     s.Session,
		SignMethod:  top.SignMethod(s.SignMethod),
		Timeout:     s.Timeout,
		MaxAttempts: s.MaxAttempts,
		RateLimit:   s.RateLimit,
		RateBurst:   s.RateBurst,
	}
}
