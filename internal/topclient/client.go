// Package topclient is servicecenterd's gateway adapter to the Taobao Open
// Platform (TOP): it signs calls, sends them over a pooled keep-alive HTTP
// transport, decodes TOP's answers into the typed responses of
// internal/top and TOP's errors into typed errors, retries only where a
// retry is safe, keeps to the app's quota and honours TOP's quota bans.
//
// Every parameter, the system ones included, travels in the POST body, so
// URLs (and the net/http errors that quote them) never hold a secret, a
// session, a signature or personal data. Errors and the Observer hook mask
// phone and identity numbers.
package topclient

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
	"github.com/servicecenterd/servicecenterd/internal/quota"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Client calls TOP for one app key. It is safe for concurrent use; create
// one per app key and share it.
type Client struct {
	url                     *url.URL
	header                  http.Header // read only, shared by every request
	appKey, secret, session string
	signMethod              top.SignMethod
	signer                  *top.Signer
	partnerID               string
	simplify                bool
	timeout                 time.Duration
	maxAttempts             int
	backoff                 backoff.Policy // full jitter; tests replace Rand
	maxResponse             int64
	rt                      http.RoundTripper
	limiter                 quota.Limiter // nil: no quota
	bans                    quota.Bans
	observer                func(CallInfo)
	tracer                  trace.Tracer      // nil: not traced (trace.go)
	tracedRT                http.RoundTripper // rt under otelhttp, for sampled attempts
	now                     func() time.Time

	states sync.Pool // *callState
	stamp  atomic.Pointer[stamp]
}

// stamp caches the formatted timestamp of one second.
type stamp struct {
	unix int64
	text string
}

// New checks cfg and returns a Client. Errors are *ConfigError naming the
// bad field; they never include the secret or the session.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil { // ResolveURL already parsed it
		return nil, &ConfigError{Field: "URL", Reason: "is not a valid URL"}
	}
	c := &Client{
		url:         u,
		header:      http.Header{"Content-Type": {top.FormContentType}},
		appKey:      cfg.AppKey,
		secret:      cfg.AppSecret,
		session:     cfg.Session,
		signMethod:  cfg.SignMethod,
		partnerID:   cfg.PartnerID,
		simplify:    cfg.Simplify,
		timeout:     cfg.Timeout,
		maxAttempts: cfg.MaxAttempts,
		backoff:     backoff.Policy{Base: cfg.BackoffBase, Max: cfg.BackoffMax, Jitter: backoff.Full},
		maxResponse: cfg.MaxResponseBytes,
		rt:          cfg.Transport,
		observer:    cfg.Observer,
		now:         cfg.Now,
	}
	if c.signer, err = top.NewSigner(cfg.SignMethod, cfg.AppSecret); err != nil {
		return nil, &ConfigError{Field: "SignMethod", Reason: "must be md5, hmac or hmac-sha256"}
	}
	if c.rt == nil {
		c.rt = newTransport()
	}
	if cfg.TracerProvider != nil {
		c.tracer, c.tracedRT = traced(cfg.TracerProvider, c.rt)
	}
	c.limiter, c.bans = cfg.Limiter, cfg.Bans
	if c.limiter == nil && cfg.RateLimit > 0 {
		c.limiter = quota.NewLocalLimiter(quota.Rate{PerSecond: cfg.RateLimit, Burst: cfg.RateBurst})
	}
	if c.bans == nil {
		c.bans = quota.NewLocalBans()
	}
	c.states.New = func() any { return newCallState() }
	return c, nil
}

// newTransport returns the client's own transport: keep-alive pools sized
// for many concurrent callers (net/http's default of 2 idle connections
// per host is a known bottleneck), proxy from the environment, gzip, and
// TLS verification on.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// Close closes the transport's idle connections. Calls still running
// finish normally; the Client stays usable.
func (c *Client) Close() {
	if t, ok := c.rt.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// timestamp formats now for the timestamp parameter, once per second.
func (c *Client) timestamp(now time.Time) string {
	unix := now.Unix()
	if s := c.stamp.Load(); s != nil && s.unix == unix {
		return s.text
	}
	s := &stamp{unix: unix, text: top.FormatTime(now)}
	c.stamp.Store(s)
	return s.text
}
