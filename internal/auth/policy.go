// Package auth decides who may call servicecenterd: it authenticates
// callers by bearer token (stored as SHA-256 hashes in a clients file) or
// by a verified client certificate (mTLS, identity from the SAN), and
// authorizes each call by RPC. The same rules serve gRPC (an interceptor),
// REST (the gateway reaches gRPC over an in-process connection that
// carries the HTTP layer's verified certificate identity, see internal.go)
// and the plain HTTP endpoints (/metrics, /healthz, /readyz, /topz,
// /openapi.json).
package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// HTTPService is the pseudo gRPC service that names the plain HTTP
// endpoints in allow lists and open endpoints: http/metrics,
// http/healthz, http/readyz, http/topz and http/openapi.
const HTTPService = "http"

// ClientSpec is one entry of the clients file.
type ClientSpec struct {
	// Name identifies the client in logs, audit events and errors.
	Name string `yaml:"name"`
	// TokenSHA256 are the hex SHA-256 hashes of the client's bearer
	// tokens (more than one lets a token be rotated without downtime).
	TokenSHA256 []string `yaml:"token_sha256"`
	// CertSANs are the subject alternative names (URI, DNS or e-mail) of
	// verified client certificates that identify this client.
	CertSANs []string `yaml:"cert_sans"`
	// Allow lists what the client may call: "*", "service/*" or
	// "service/Method", e.g. servicecenter.v1.WorkerService/GetWorkerTags.
	Allow []string `yaml:"allow"`
	// Topics lists the TMC topics the client may read through
	// EventService: topic names, prefixes ending in "*", or "*". Absent:
	// every topic. A topic outside it is never sent to the client.
	Topics []string `yaml:"topics"`
	// RateLimit and RateBurst override the per-client rate limit
	// (calls per second, bucket size); 0 keeps the server's setting.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
}

// clientsFile is the clients file's top level.
type clientsFile struct {
	Clients []ClientSpec `yaml:"clients"`
}

// Client is a parsed, checked entry of the clients file.
type Client struct {
	// Name identifies the client.
	Name string
	// RateLimit and RateBurst are the client's own rate limit, 0 when the
	// server's applies.
	RateLimit float64
	RateBurst int

	tokens [][sha256.Size]byte
	sans   []string
	allow  []Pattern
	topics Topics
}

// Allowed reports whether the client may call the full method
// ("/service/Method").
func (c *Client) Allowed(fullMethod string) bool {
	for _, p := range c.allow {
		if p.Match(fullMethod) {
			return true
		}
	}
	return false
}

// Policy is a parsed clients file: who may call, how they prove it, and
// what they may call.
type Policy struct {
	clients []*Client
}

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// LoadPolicy reads and parses a clients file.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clients file: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("clients file %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses a clients file (YAML). Unknown keys, duplicate names,
// tokens or SANs, malformed hashes and allow patterns are errors. Error
// messages never quote a token hash.
func ParsePolicy(data []byte) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f clientsFile
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("not a valid clients file: %w", err)
	}
	if len(f.Clients) == 0 {
		return nil, errors.New("no clients: list them under clients:")
	}
	p := &Policy{}
	var errs []error
	names := map[string]bool{}
	tokens := map[[sha256.Size]byte]string{}
	sans := map[string]string{}
	for i, spec := range f.Clients {
		where := fmt.Sprintf("clients[%d] (%s)", i, spec.Name)
		c := &Client{Name: spec.Name, RateLimit: spec.RateLimit, RateBurst: spec.RateBurst}
		if !clientName.MatchString(spec.Name) {
			errs = append(errs, fmt.Errorf("clients[%d]: name %q: want 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit", i, spec.Name))
		} else if names[spec.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", where))
		}
		names[spec.Name] = true
		if len(spec.TokenSHA256) == 0 && len(spec.CertSANs) == 0 {
			errs = append(errs, fmt.Errorf("%s: needs token_sha256 or cert_sans", where))
		}
		for j, h := range spec.TokenSHA256 {
			raw, err := hex.DecodeString(strings.TrimSpace(h))
			if err != nil || len(raw) != sha256.Size {
				errs = append(errs, fmt.Errorf("%s: token_sha256[%d] is not 64 hex digits (hash a token with `servicecenterd token hash`)", where, j))
				continue
			}
			sum := [sha256.Size]byte(raw)
			if other, dup := tokens[sum]; dup {
				errs = append(errs, fmt.Errorf("%s: token_sha256[%d] is also a token of %s", where, j, other))
			}
			tokens[sum] = spec.Name
			c.tokens = append(c.tokens, sum)
		}
		for _, san := range spec.CertSANs {
			if san == "" {
				errs = append(errs, fmt.Errorf("%s: empty cert_sans entry", where))
				continue
			}
			if other, dup := sans[san]; dup {
				errs = append(errs, fmt.Errorf("%s: cert SAN %q is also %s's", where, san, other))
			}
			sans[san] = spec.Name
			c.sans = append(c.sans, san)
		}
		if len(spec.Allow) == 0 {
			errs = append(errs, fmt.Errorf("%s: allow is empty; list the RPCs it may call (\"*\" for all)", where))
		}
		for _, a := range spec.Allow {
			pat, err := ParsePattern(a)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: allow: %w", where, err))
				continue
			}
			c.allow = append(c.allow, pat)
		}
		if spec.Topics != nil && len(spec.Topics) == 0 {
			errs = append(errs, fmt.Errorf("%s: topics is empty; leave it out for every topic, or list them", where))
		}
		topics, err := parseTopics(spec.Topics)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: topics: %w", where, err))
		}
		c.topics = topics
		if spec.RateLimit < 0 || spec.RateBurst < 0 {
			errs = append(errs, fmt.Errorf("%s: rate_limit and rate_burst must not be negative", where))
		}
		p.clients = append(p.clients, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Clients lists the policy's clients in file order.
func (p *Policy) Clients() []*Client { return p.clients }

// Patterns lists every allow pattern of every client, for checking them
// against the RPCs the server has.
func (p *Policy) Patterns() []Pattern {
	var out []Pattern
	for _, c := range p.clients {
		out = append(out, c.allow...)
	}
	return out
}

// ByToken returns the client holding token, comparing its hash with every
// stored hash in constant time (all of them, whatever matches).
func (p *Policy) ByToken(token string) (*Client, bool) {
	sum := sha256.Sum256([]byte(token))
	var found *Client
	for _, c := range p.clients {
		for _, t := range c.tokens {
			if subtle.ConstantTimeCompare(sum[:], t[:]) == 1 {
				found = c
			}
		}
	}
	return found, found != nil
}

// BySAN returns the client one of whose cert_sans is among sans.
func (p *Policy) BySAN(sans []string) (*Client, bool) {
	for _, c := range p.clients {
		for _, want := range c.sans {
			for _, got := range sans {
				if got == want {
					return c, true
				}
			}
		}
	}
	return nil, false
}

// ByName returns the named client.
func (p *Policy) ByName(name string) (*Client, bool) {
	for _, c := range p.clients {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// HasCertClients reports whether any client is identified by certificate.
func (p *Policy) HasCertClients() bool {
	for _, c := range p.clients {
		if len(c.sans) > 0 {
			return true
		}
	}
	return false
}

// HasTokenClients reports whether any client is identified by token.
func (p *Policy) HasTokenClients() bool {
	for _, c := range p.clients {
		if len(c.tokens) > 0 {
			return true
		}
	}
	return false
}

// HashToken returns the hex SHA-256 hash of a token, as the clients file
// stores it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Pattern matches full gRPC method names: "*" (everything),
// "service/*" (every method of a service) or "service/Method". A leading
// slash is allowed and ignored.
type Pattern struct {
	// Service is the full service name, "" for "*".
	Service string
	// Method is the method name, "" for every method of Service.
	Method string
}

var patternPart = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// ParsePattern parses an allow or open-endpoint pattern.
func ParsePattern(s string) (Pattern, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "/")
	if t == "*" {
		return Pattern{}, nil
	}
	svc, method, ok := strings.Cut(t, "/")
	if !ok || !patternPart.MatchString(svc) || (method != "*" && !patternPart.MatchString(method)) || strings.Contains(method, ".") {
		return Pattern{}, fmt.Errorf("%q: want *, service/* or service/Method (e.g. servicecenter.v1.WorkerService/GetWorkerTags)", s)
	}
	if method == "*" {
		method = ""
	}
	return Pattern{Service: svc, Method: method}, nil
}

// Match reports whether the pattern covers fullMethod ("/service/Method").
func (p Pattern) Match(fullMethod string) bool {
	if p.Service == "" {
		return true
	}
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok || svc != p.Service {
		return false
	}
	return p.Method == "" || p.Method == method
}

// String formats the pattern as it is written.
func (p Pattern) String() string {
	switch {
	case p.Service == "":
		return "*"
	case p.Method == "":
		return p.Service + "/*"
	}
	return p.Service + "/" + p.Method
}

// CheckKnown returns an error naming every pattern that matches no method
// of known (service name -> method names), so that a typo in an allow
// list is refused at start instead of silently denying.
func CheckKnown(patterns []Pattern, known map[string][]string) error {
	var errs []error
	for _, p := range patterns {
		if p.Service == "" {
			continue
		}
		methods, ok := known[p.Service]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: no service %s", p, p.Service))
		case p.Method != "" && !slices.Contains(methods, p.Method):
			errs = append(errs, fmt.Errorf("%s: service %s has no method %s", p, p.Service, p.Method))
		}
	}
	return errors.Join(errs...)
}
