package server

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/tlsfiles"
)

// SecurityConfig holds the settings of caller authentication, TLS,
// limits, metrics and the audit trail. It is embedded in Config, so its
// fields are settings like Config's own.
type SecurityConfig struct {
	ClientsFile                  string   `flag:"clients-file" help:"YAML file of the clients that may call: each with a name, token_sha256 hashes and/or cert_sans, and the RPCs it may call (see README). Checked for changes every --reload-interval."`
	InsecureAllowUnauthenticated bool     `flag:"insecure-allow-unauthenticated" default:"false" help:"Start even when listening beyond loopback without caller authentication: anyone who reaches the ports can then act for the Tmall app."`
	OpenEndpoints                []string `flag:"open-endpoints" default:"health,reflection,metrics" help:"What anyone may call without credentials: any of health (gRPC health, /healthz, /readyz), reflection (gRPC reflection, /openapi.json) and metrics (/metrics); empty for nothing."`

	TLSCertFile     string        `flag:"tls-cert-file" help:"PEM certificate chain of the gRPC, HTTP and metrics listeners; with --tls-key-file it turns TLS on. Reloaded when it changes."`
	TLSKeyFile      string        `flag:"tls-key-file" help:"PEM private key of --tls-cert-file."`
	TLSClientCAFile string        `flag:"tls-client-ca-file" help:"PEM CA certificates that client certificates must chain to: turns on mTLS (needs --tls-cert-file). A certificate's SAN names its client."`
	ReloadInterval  time.Duration `flag:"reload-interval" default:"10s" help:"How often the TLS files and the clients file are checked for changes; 0 turns reloading off."`

	GRPCMaxRecvMsgSize    int           `flag:"grpc-max-recv-msg-size" default:"4194304" help:"Largest gRPC request message, in bytes."`
	GRPCMaxSendMsgSize    int           `flag:"grpc-max-send-msg-size" default:"4194304" help:"Largest gRPC response message, in bytes."`
	DefaultDeadline       time.Duration `flag:"default-deadline" default:"30s" help:"Deadline of a call that comes without one (REST calls included); 0 for none."`
	KeepaliveTime         time.Duration `flag:"grpc-keepalive-time" default:"2m" help:"Ping a gRPC client after this long without activity, to find dead connections."`
	KeepaliveTimeout      time.Duration `flag:"grpc-keepalive-timeout" default:"20s" help:"Close a gRPC connection whose ping is not answered within this."`
	KeepaliveMinTime      time.Duration `flag:"grpc-keepalive-min-time" default:"30s" help:"Close a gRPC connection whose client pings more often than this (too_many_pings)."`
	KeepaliveNoStreamOK   bool          `flag:"grpc-keepalive-permit-without-stream" default:"false" help:"Let clients ping while they have no call in progress."`
	MaxConnectionIdle     time.Duration `flag:"grpc-max-connection-idle" default:"0s" help:"Close a gRPC connection idle this long; 0 never."`
	MaxConnectionAge      time.Duration `flag:"grpc-max-connection-age" default:"0s" help:"Close a gRPC connection this old (gracefully, so that clients rebalance); 0 never."`
	HTTPReadHeaderTimeout time.Duration `flag:"http-read-header-timeout" default:"10s" help:"Time an HTTP client has to send the request headers."`
	HTTPReadTimeout       time.Duration `flag:"http-read-timeout" default:"60s" help:"Time an HTTP client has to send the whole request (a file upload has --http-upload-timeout and --http-upload-min-rate instead)."`
	HTTPWriteTimeout      time.Duration `flag:"http-write-timeout" default:"60s" help:"Time to write an HTTP response, from the end of the request headers."`
	HTTPIdleTimeout       time.Duration `flag:"http-idle-timeout" default:"120s" help:"Close an idle HTTP keep-alive connection after this."`
	HTTPMaxBodySize       int           `flag:"http-max-body-size" default:"8388608" help:"Largest REST request body, in bytes (413 above); a file upload has --http-max-upload-size instead."`
	HTTPMaxUploadSize     int64         `flag:"http-max-upload-size" default:"1073741824" help:"Largest file upload (POST /v1/blacklist/jobs:import with a CSV or NDJSON body), in bytes (413 above). Each record of the file (a CSV record, an NDJSON line) is at most 64 KiB besides."`
	HTTPUploadMinRate     int64         `flag:"http-upload-min-rate" default:"4096" help:"Slowest a file upload may arrive, in bytes per second: the server waits for an upload's data at most --http-upload-rate-window at a time, and each byte received earns it 1/rate seconds more of waiting (up to the window); an upload that falls behind is cut off with 408. Only time spent waiting for the client counts. 0 turns the check off."`
	HTTPUploadRateWindow  time.Duration `flag:"http-upload-rate-window" default:"30s" help:"Longest a file upload may keep the server waiting for data, and the span over which --http-upload-min-rate is averaged."`
	HTTPUploadTimeout     time.Duration `flag:"http-upload-timeout" default:"1h" help:"Longest a file upload may take, from its request headers to its last byte, however fast it arrives (408 after); 0 for no limit."`
	RateLimit             float64       `flag:"rate-limit" default:"0" help:"Calls per second each client may make (a token bucket per client; a client's rate_limit in the clients file overrides it); 0 is no limit. Over it: RESOURCE_EXHAUSTED with RetryInfo."`
	RateBurst             int           `flag:"rate-burst" default:"0" help:"Bucket size of --rate-limit; 0 means the rate rounded up."`

	MetricsAddr string `flag:"metrics-addr" help:"Serve /metrics on its own listener (host:port) instead of on --http-addr."`

	AuditConfig
}

// openEndpointNames lists --open-endpoints values and the methods (or
// http/... resources) each opens.
var openEndpointNames = map[string][]string{
	"health":     {"grpc.health.v1.Health/*", "http/healthz", "http/readyz"},
	"reflection": {"grpc.reflection.v1.ServerReflection/*", "grpc.reflection.v1alpha.ServerReflection/*", "http/openapi"},
	"metrics":    {"http/metrics"},
}

// httpResources are the plain HTTP endpoints as auth resources.
var httpResources = []string{"metrics", "healthz", "readyz", "openapi"}

// openPatterns turns --open-endpoints into method patterns.
func (c *SecurityConfig) openPatterns() ([]auth.Pattern, error) {
	var out []auth.Pattern
	for _, name := range c.OpenEndpoints {
		methods, ok := openEndpointNames[name]
		if !ok {
			return nil, fmt.Errorf("--open-endpoints: %q: want health, reflection or metrics", name)
		}
		for _, m := range methods {
			p, err := auth.ParsePattern(m)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func (c *SecurityConfig) tlsFiles() tlsfiles.Files {
	return tlsfiles.Files{CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, ClientCAFile: c.TLSClientCAFile}
}

// tlsOn reports whether the listeners serve TLS.
func (c *SecurityConfig) tlsOn() bool { return c.TLSCertFile != "" }

// authOn reports whether callers must authenticate.
func (c *SecurityConfig) authOn() bool { return c.ClientsFile != "" || c.TLSClientCAFile != "" }

// validateSecurity checks the security settings and the files they name
// (clients file, TLS files). listeners are the addresses the server
// listens on, by flag.
func (c *SecurityConfig) validateSecurity(listeners map[string]string) []error {
	var errs []error
	if _, err := c.openPatterns(); err != nil {
		errs = append(errs, err)
	}
	if c.ClientsFile != "" {
		p, err := auth.LoadPolicy(c.ClientsFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--clients-file: %w", err))
		} else if err := auth.CheckKnown(p.Patterns(), KnownMethods()); err != nil {
			errs = append(errs, fmt.Errorf("--clients-file %s: allow lists name what does not exist:\n%w", c.ClientsFile, err))
		}
	}
	switch {
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file go together"))
	case c.TLSClientCAFile != "" && c.TLSCertFile == "":
		errs = append(errs, errors.New("--tls-client-ca-file (mTLS) needs --tls-cert-file and --tls-key-file"))
	case c.tlsOn():
		if err := c.tlsFiles().Check(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ReloadInterval < 0 {
		errs = append(errs, errors.New("--reload-interval must not be negative"))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-addr %q is not host:port", c.MetricsAddr))
		}
		listeners["metrics-addr"] = c.MetricsAddr
	}
	for _, v := range []struct {
		flag string
		n    int
	}{{"grpc-max-recv-msg-size", c.GRPCMaxRecvMsgSize}, {"grpc-max-send-msg-size", c.GRPCMaxSendMsgSize}, {"http-max-body-size", c.HTTPMaxBodySize}} {
		if v.n < 1024 {
			errs = append(errs, fmt.Errorf("--%s must be at least 1024 bytes", v.flag))
		}
	}
	for _, v := range []struct {
		flag string
		d    time.Duration
	}{
		{"default-deadline", c.DefaultDeadline}, {"grpc-max-connection-idle", c.MaxConnectionIdle}, {"grpc-max-connection-age", c.MaxConnectionAge},
	} {
		if v.d < 0 {
			errs = append(errs, fmt.Errorf("--%s must not be negative", v.flag))
		}
	}
	for _, v := range []struct {
		flag string
		d    time.Duration
	}{
		{"grpc-keepalive-time", c.KeepaliveTime}, {"grpc-keepalive-timeout", c.KeepaliveTimeout}, {"grpc-keepalive-min-time", c.KeepaliveMinTime},
		{"http-read-header-timeout", c.HTTPReadHeaderTimeout}, {"http-read-timeout", c.HTTPReadTimeout},
		{"http-write-timeout", c.HTTPWriteTimeout}, {"http-idle-timeout", c.HTTPIdleTimeout},
	} {
		if v.d <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive", v.flag))
		}
	}
	if c.HTTPMaxUploadSize < 1024 {
		errs = append(errs, errors.New("--http-max-upload-size must be at least 1024 bytes"))
	}
	if c.HTTPUploadMinRate < 0 || c.HTTPUploadTimeout < 0 {
		errs = append(errs, errors.New("--http-upload-min-rate and --http-upload-timeout must not be negative"))
	}
	if c.HTTPUploadMinRate > 0 && c.HTTPUploadRateWindow <= 0 {
		errs = append(errs, errors.New("--http-upload-rate-window must be positive (with --http-upload-min-rate)"))
	}
	if c.RateLimit < 0 || c.RateBurst < 0 {
		errs = append(errs, errors.New("--rate-limit and --rate-burst must not be negative"))
	}
	errs = append(errs, c.validateAudit()...)
	if !c.authOn() && !c.InsecureAllowUnauthenticated {
		var wide []string
		for _, flag := range slices.Sorted(maps.Keys(listeners)) {
			if !isLoopback(listeners[flag]) {
				wide = append(wide, fmt.Sprintf("--%s %s", flag, listeners[flag]))
			}
		}
		if len(wide) > 0 {
			errs = append(errs, fmt.Errorf("refusing to listen beyond loopback (%s) without caller authentication: "+
				"anyone who can reach the port could act for your Tmall app with its secret and session. "+
				"Configure --clients-file (bearer tokens) and/or --tls-client-ca-file (client certificates), "+
				"or pass --insecure-allow-unauthenticated if something else guards the port", strings.Join(wide, ", ")))
		}
	}
	return errs
}

// isLoopback reports whether a listen address stays on this machine:
// localhost or a loopback IP. An empty host (all interfaces) or any other
// name is beyond loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// knownPackages are the proto packages whose services the server
// registers.
var knownPackages = []protoreflect.FullName{"servicecenter.v1", "grpc.health.v1", "grpc.reflection.v1", "grpc.reflection.v1alpha"}

// KnownMethods lists, by service, the methods an allow list may name: the
// services of the packages the server registers (from the linked proto
// descriptors) and the plain HTTP endpoints (service "http").
func KnownMethods() map[string][]string {
	out := map[string][]string{auth.HTTPService: httpResources}
	for _, pkg := range knownPackages {
		protoregistry.GlobalFiles.RangeFilesByPackage(pkg, func(fd protoreflect.FileDescriptor) bool {
			for i := range fd.Services().Len() {
				svc := fd.Services().Get(i)
				var methods []string
				for j := range svc.Methods().Len() {
					methods = append(methods, string(svc.Methods().Get(j).Name()))
				}
				out[string(svc.FullName())] = methods
			}
			return true
		})
	}
	return out
}

// listeners are the addresses the server will listen on, by flag (the
// metrics listener is added by validateSecurity). The embedded emulator's
// is not one of them: it is loopback only, always (Validate).
func (c *Config) listeners() map[string]string {
	return map[string]string{"grpc-addr": c.GRPCAddr, "http-addr": c.HTTPAddr}
}
