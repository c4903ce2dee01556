package topclient

import (
	"errors"
	"github.com/servicecenterd/servicecenterd/internal/quota"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

func TestResolveURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "production", want: "https://eco.taobao.com/router/rest"},
		{in: "sandbox", want: "https://gw.api.tbsandbox.com/router/rest"},
		{in: "overseas", want: "https://api.taobao.com/router/rest"},
		{in: "http://127.0.0.1:8800/router/rest", want: "http://127.0.0.1:8800/router/rest"},
		{in: "https://gw.example.com/router/rest", want: "https://gw.example.com/router/rest"},
		{in: "", wantErr: "required"},
		{in: "Production", wantErr: "http(s) URL"},
		{in: "ftp://x/router/rest", wantErr: "http(s) URL"},
		{in: "http:///router/rest", wantErr: "no host"},
		{in: "https://user:hunter2@gw.example.com/router/rest", wantErr: "user info"},
		{in: "https://gw.example.com/router/rest?app_key=1", wantErr: "query"},
		{in: "https://gw.example.com/router/rest#x", wantErr: "fragment"},
		{in: "http://[::1", wantErr: "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ResolveURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveURL(%q) = %q, %v; want error with %q", tt.in, got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks the URL's password: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ResolveURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	valid := func() Config {
		return Config{URL: "sandbox", AppKey: "k", AppSecret: testSecret, Session: testSession}
	}
	tests := []struct {
		field  string
		adjust func(*Config)
	}{
		{"URL", func(c *Config) { c.URL = "" }},
		{"URL", func(c *Config) { c.URL = "gopher://x" }},
		{"AppKey", func(c *Config) { c.AppKey = "" }},
		{"AppKey", func(c *Config) { c.AppKey = "a\nb" }},
		{"AppSecret", func(c *Config) { c.AppSecret = "" }},
		{"SignMethod", func(c *Config) { c.SignMethod = "sha1" }},
		{"PartnerID", func(c *Config) { c.PartnerID = "x\r\ny" }},
		{"Timeout", func(c *Config) { c.Timeout = -time.Second }},
		{"MaxAttempts", func(c *Config) { c.MaxAttempts = -1 }},
		{"BackoffBase", func(c *Config) { c.BackoffBase = -1 }},
		{"BackoffMax", func(c *Config) { c.BackoffMax = -1 }},
		{"BackoffMax", func(c *Config) { c.BackoffBase, c.BackoffMax = time.Second, time.Millisecond }},
		{"RateLimit", func(c *Config) { c.RateLimit = -1 }},
		{"RateBurst", func(c *Config) { c.RateBurst = -1 }},
		{"MaxResponseBytes", func(c *Config) { c.MaxResponseBytes = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			tt.adjust(&cfg)
			_, err := New(cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("New() error = %v, want a ConfigError for %s", err, tt.field)
			}
			if l := leaks(err.Error()); len(l) > 0 {
				t.Fatalf("error %q leaks %v", err, l)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{URL: "production", AppKey: "k", AppSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.url.String() != URLProduction || c.signMethod != top.SignHMACSHA256 || c.timeout != 15*time.Second ||
		c.maxAttempts != 3 || c.backoff.Base != 100*time.Millisecond || c.backoff.Max != 2*time.Second || c.backoff.Jitter != backoff.Full ||
		c.maxResponse != 4<<20 || c.limiter != nil || c.partnerID != "servicecenterd-dev" {
		t.Fatalf("defaults: %+v", c)
	}
	tr, ok := c.rt.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.rt)
	}
	if tr.MaxIdleConnsPerHost < 64 || tr.Proxy == nil || tr.DisableCompression || tr.DisableKeepAlives ||
		tr.TLSClientConfig == nil || tr.TLSClientConfig.InsecureSkipVerify {
		t.Fatalf("transport not tuned: %+v", tr)
	}
	c2, err := New(Config{URL: "sandbox", AppKey: "k", AppSecret: "s", Version: "v1.2.3", RateLimit: 2.5})
	if err != nil {
		t.Fatal(err)
	}
	if lim, ok := c2.limiter.(*quota.LocalLimiter); c2.partnerID != "servicecenterd-v1.2.3" || !ok || lim.Burst() != 2 {
		t.Fatalf("partner_id %q, limiter %v", c2.partnerID, c2.limiter)
	}
}
