package auth

import (
	"errors"
	"fmt"
)

// Settings are caller authentication's settings of `servicecenterd serve`:
// flags, SERVICECENTERD_* variables and YAML keys (internal/config).
// Client certificates are turned on by the TLS settings
// (internal/tlsfiles: --tls-client-ca-file).
type Settings struct {
	// ClientsFile is the clients file (LoadPolicy); "" for none.
	ClientsFile string `flag:"clients-file" help:"YAML file of the clients that may call: each with a name, token_sha256 hashes and/or cert_sans, and the RPCs it may call (see README). Checked for changes every --reload-interval."`
	// InsecureAllowUnauthenticated lets the server listen beyond loopback
	// with no authentication (the server checks it).
	InsecureAllowUnauthenticated bool `flag:"insecure-allow-unauthenticated" default:"false" help:"Start even when listening beyond loopback without caller authentication: anyone who reaches the ports can then act for the Tmall app."`
	// OpenEndpoints names what anyone may call: keys of openEndpoints.
	OpenEndpoints []string `flag:"open-endpoints" default:"health,reflection,metrics" help:"What anyone may call without credentials: any of health (gRPC health, /healthz, /readyz, /topz), reflection (gRPC reflection, /openapi.json) and metrics (/metrics); empty for nothing."`
}

// openEndpoints are the names --open-endpoints takes and the methods
// (or HTTP resources, service HTTPService) each opens.
var openEndpoints = map[string][]string{
	"health":     {"grpc.health.v1.Health/*", HTTPService + "/healthz", HTTPService + "/readyz", HTTPService + "/topz"},
	"reflection": {"grpc.reflection.v1.ServerReflection/*", "grpc.reflection.v1alpha.ServerReflection/*", HTTPService + "/openapi"},
	"metrics":    {HTTPService + "/metrics"},
}

// Validate checks the settings and the clients file, whose allow lists
// may name only the methods in known (by service, as CheckKnown takes
// them). Errors name the flag.
func (s Settings) Validate(known map[string][]string) error {
	var errs []error
	if _, err := s.OpenPatterns(); err != nil {
		errs = append(errs, err)
	}
	if s.ClientsFile != "" {
		p, err := LoadPolicy(s.ClientsFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--clients-file: %w", err))
		} else if err := CheckKnown(p.Patterns(), known); err != nil {
			errs = append(errs, fmt.Errorf("--clients-file %s: allow lists name what does not exist:\n%w", s.ClientsFile, err))
		}
	}
	return errors.Join(errs...)
}

// OpenPatterns are the method patterns --open-endpoints opens, for
// Options.Open.
func (s Settings) OpenPatterns() ([]Pattern, error) {
	var out []Pattern
	for _, name := range s.OpenEndpoints {
		methods, ok := openEndpoints[name]
		if !ok {
			return nil, fmt.Errorf("--open-endpoints: %q: want health, reflection or metrics", name)
		}
		for _, m := range methods {
			p, err := ParsePattern(m)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}
