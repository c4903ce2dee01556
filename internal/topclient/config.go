package topclient

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/servicecenterd/servicecenterd/internal/quota"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Endpoint presets accepted by ResolveURL and Config.URL.
const (
	// URLProduction is TOP's production gateway in China, over HTTPS.
	URLProduction = "https://eco.taobao.com/router/rest"
	// URLSandbox is TOP's (legacy) sandbox gateway.
	URLSandbox = "https://gw.api.tbsandbox.com/router/rest"
	// URLOverseas is TOP's production gateway for servers outside China.
	URLOverseas = "https://api.taobao.com/router/rest"
)

// Defaults of the Config knobs.
const (
	DefaultSignMethod       = top.SignHMACSHA256
	DefaultTimeout          = 15 * time.Second
	DefaultMaxAttempts      = 3
	DefaultBackoffBase      = 100 * time.Millisecond
	DefaultBackoffMax       = 2 * time.Second
	DefaultMaxResponseBytes = 4 << 20
	// DefaultVersion is the version named in partner_id when neither
	// Config.Version nor the binary's build information gives one.
	DefaultVersion = "dev"
	// PartnerIDPrefix starts the default partner_id: "servicecenterd-" + version.
	PartnerIDPrefix = "servicecenterd-"
)

// ResolveURL turns an endpoint preset ("production", "sandbox", "overseas")
// into its URL, or checks that s is an absolute http(s) URL with a host and
// without user info, query or fragment (parameters travel in the body).
func ResolveURL(s string) (string, error) {
	switch s {
	case "production":
		return URLProduction, nil
	case "sandbox":
		return URLSandbox, nil
	case "overseas":
		return URLOverseas, nil
	case "":
		return "", errors.New(`URL is required: "production", "sandbox", "overseas" or an http(s) URL`)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the input, which may hold credentials; say less.
		return "", errors.New("URL is not a valid URL")
	}
	switch {
	case u.User != nil:
		return "", errors.New("URL must not contain user info")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New(`URL must be "production", "sandbox", "overseas" or an http(s) URL`)
	case u.Host == "":
		return "", errors.New("URL has no host")
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("URL must not contain a query; parameters are sent in the body")
	case u.Fragment != "":
		return "", errors.New("URL must not contain a fragment")
	}
	return u.String(), nil
}

// Config configures a Client. Only URL, AppKey and AppSecret are required;
// every other zero value means the documented default.
type Config struct {
	// URL is the gateway: "production", "sandbox", "overseas" (see
	// ResolveURL) or any http(s) URL such as the emulator's.
	URL string
	// AppKey is the app's key (app_key).
	AppKey string
	// AppSecret signs every call; it never leaves the process.
	AppSecret string
	// Session is the seller's access token, sent to the methods that act
	// for an authorised user; empty means none is sent.
	Session string
	// SignMethod is md5, hmac or hmac-sha256 (default).
	SignMethod top.SignMethod
	// Version is servicecenterd's version, named in the default PartnerID.
	// Default: the main module's version from the binary's build
	// information, or "dev".
	Version string
	// PartnerID is sent as partner_id. Default "servicecenterd-" + Version.
	PartnerID string
	// Timeout bounds each call, retries and backoff included, when the
	// context has no earlier deadline. Default 15s.
	Timeout time.Duration
	// MaxAttempts is how many times a call may be sent (first try
	// included) when retrying is safe. Default 3; 1 turns retries off.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the retry delay: before retry n the
	// client sleeps a random time in [0, min(BackoffMax, BackoffBase*2^(n-1)))
	// ("full jitter"). Defaults 100ms and 2s.
	BackoffBase, BackoffMax time.Duration
	// RateLimit is the app key's token bucket in calls per second; 0 (the
	// default) turns it off. RateBurst is the bucket size; default
	// max(1, RateLimit).
	RateLimit float64
	RateBurst int
	// Limiter, when set, replaces the token bucket of RateLimit: the
	// app's quota shared by replicas (quota/redisquota).
	Limiter quota.Limiter
	// Bans, when set, replaces the client's own ban table: bans shared by
	// replicas (quota/redisquota).
	Bans quota.Bans
	// MaxResponseBytes bounds how much of a response body is read.
	// Default 4 MiB.
	MaxResponseBytes int64
	// Simplify asks TOP for simplified JSON (simplify=true). Both shapes
	// are decoded either way.
	Simplify bool
	// Transport replaces the client's own tuned *http.Transport (tests).
	Transport http.RoundTripper
	// Observer, when set, is called once per call, after any retries, on
	// the caller's goroutine; calls refused for invalid arguments before
	// anything is sent are not reported. It must be quick and safe for
	// concurrent use.
	Observer func(CallInfo)
	// TracerProvider, when set, traces every attempt (see trace.go); nil
	// traces nothing and costs nothing.
	TracerProvider trace.TracerProvider
	// Now is the clock (timestamps, bans, durations). Default time.Now.
	Now func() time.Time
}

// ConfigError says which Config field is wrong. It never holds the value
// of AppSecret or Session.
type ConfigError struct {
	// Field is the Config field, e.g. AppSecret.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *ConfigError) Error() string {
	return "topclient: config " + e.Field + ": " + e.Reason
}

// withDefaults checks cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	var err error
	if cfg.URL, err = ResolveURL(cfg.URL); err != nil {
		return cfg, &ConfigError{Field: "URL", Reason: strings.TrimPrefix(err.Error(), "URL ")}
	}
	if cfg.AppKey == "" {
		return cfg, &ConfigError{Field: "AppKey", Reason: "is required"}
	}
	if hasControl(cfg.AppKey) {
		return cfg, &ConfigError{Field: "AppKey", Reason: "contains control characters"}
	}
	if cfg.AppSecret == "" {
		return cfg, &ConfigError{Field: "AppSecret", Reason: "is required"}
	}
	if cfg.SignMethod == "" {
		cfg.SignMethod = DefaultSignMethod
	}
	if _, err := top.ParseSignMethod(string(cfg.SignMethod)); err != nil {
		return cfg, &ConfigError{Field: "SignMethod", Reason: "must be md5, hmac or hmac-sha256"}
	}
	if cfg.Version == "" {
		cfg.Version = buildVersion()
	}
	if cfg.PartnerID == "" {
		cfg.PartnerID = PartnerIDPrefix + cfg.Version
	}
	if hasControl(cfg.PartnerID) {
		return cfg, &ConfigError{Field: "PartnerID", Reason: "contains control characters"}
	}
	checks := []struct {
		field string
		bad   bool
	}{
		{"Timeout", cfg.Timeout < 0},
		{"MaxAttempts", cfg.MaxAttempts < 0},
		{"BackoffBase", cfg.BackoffBase < 0},
		{"BackoffMax", cfg.BackoffMax < 0},
		{"RateLimit", cfg.RateLimit < 0 || math.IsNaN(cfg.RateLimit) || math.IsInf(cfg.RateLimit, 0)},
		{"RateBurst", cfg.RateBurst < 0},
		{"MaxResponseBytes", cfg.MaxResponseBytes < 0},
	}
	for _, c := range checks {
		if c.bad {
			return cfg, &ConfigError{Field: c.field, Reason: "must not be negative"}
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffBase)
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		return cfg, &ConfigError{Field: "BackoffMax", Reason: "must not be less than BackoffBase"}
	}
	if cfg.RateLimit > 0 && cfg.RateBurst == 0 {
		cfg.RateBurst = max(1, int(cfg.RateLimit))
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// buildVersion is the main module's version stamped into the binary by the
// go command, or DefaultVersion for development builds and tests.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return DefaultVersion
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
