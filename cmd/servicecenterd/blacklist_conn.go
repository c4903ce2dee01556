package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// blacklistEnvPrefix starts the environment variables that mirror the connection
// flags: --tls-ca-file is SERVICECENTERD_BLACKLIST_TLS_CA_FILE. Not
// SERVICECENTERD_ alone: serve's --tls-cert-file (the server's
// certificate) is SERVICECENTERD_TLS_CERT_FILE, which a shell that runs
// both must not hand to the client.
const blacklistEnvPrefix = "SERVICECENTERD_BLACKLIST_"

// blacklistTokenEnv holds the bearer token itself. It has no flag: a token on the
// command line would show in every user's process list.
const blacklistTokenEnv = "SERVICECENTERD_TOKEN"

// connFlag is a flag of the connection to servicecenterd.
type connFlag struct {
	name, help, def string
	boolean         bool
}

// connFlags are the connection's flags, shared by every command. Each is
// mirrored by an environment variable, EnvPrefix + its name in upper case
// with underscores; a flag given on the command line wins.
var connFlags = []connFlag{
	{name: "addr", def: defaultServerAddr, help: "gRPC address of the running servicecenterd (host:port)"},
	{name: "token-file", help: "file holding the bearer token to send (trailing newlines are ignored); or set " + blacklistTokenEnv + " to the token itself"},
	{name: "tls", boolean: true, def: "false", help: "use TLS, verifying the server's certificate against the system's CAs (implied by the other --tls-* flags)"},
	{name: "tls-ca-file", help: "PEM CA certificates to verify the server's certificate with, instead of the system's; turns TLS on"},
	{name: "tls-cert-file", help: "PEM client certificate to present (for a server with --tls-client-ca-file), with --tls-key-file; turns TLS on"},
	{name: "tls-key-file", help: "PEM private key of --tls-cert-file"},
	{name: "tls-server-name", help: "name the server's certificate must hold (default: the host of --addr); turns TLS on"},
}

// envName is the environment variable of connection flag name.
func envName(name string) string {
	return blacklistEnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// conn is the connection settings as parsed.
type conn struct {
	values map[string]*string
	bools  map[string]*bool
}

// addConnFlags adds the connection flags to fs.
func addConnFlags(fs *flag.FlagSet) *conn {
	c := &conn{values: map[string]*string{}, bools: map[string]*bool{}}
	for _, f := range connFlags {
		usage := f.help + " (env " + envName(f.name) + ")"
		if f.boolean {
			c.bools[f.name] = fs.Bool(f.name, false, usage)
		} else {
			c.values[f.name] = fs.String(f.name, f.def, usage)
		}
	}
	return c
}

// fromEnv fills the flags not given on the command line from their
// environment variables.
func (c *conn) fromEnv(fs *flag.FlagSet, getenv func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, f := range connFlags {
		v, ok := getenv(envName(f.name))
		if given[f.name] || !ok {
			continue
		}
		if f.boolean {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%s: %q is not true or false", envName(f.name), v)
			}
			*c.bools[f.name] = b
			continue
		}
		*c.values[f.name] = v
	}
	return nil
}

func (c *conn) addr() string { return *c.values["addr"] }

// tlsOn reports whether the settings ask for TLS.
func (c *conn) tlsOn() bool {
	return *c.bools["tls"] || *c.values["tls-ca-file"] != "" || *c.values["tls-cert-file"] != "" || *c.values["tls-server-name"] != ""
}

// sendsToken reports whether a bearer token is sent.
func (c *conn) sendsToken(getenv func(string) (string, bool)) bool {
	_, inEnv := getenv(blacklistTokenEnv)
	return inEnv || *c.values["token-file"] != ""
}

// dialOptions builds the transport and call credentials the settings ask
// for. Errors name files and flags, never a token.
func (c *conn) dialOptions(getenv func(string) (string, bool)) ([]grpc.DialOption, error) {
	v := func(name string) string { return *c.values[name] }
	addr := v("addr")
	token, err := c.token(getenv)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := v("tls-cert-file"), v("tls-key-file")
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	useTLS := c.tlsOn()
	var opts []grpc.DialOption
	if useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: v("tls-server-name")}
		if file := v("tls-ca-file"); file != "" {
			pem, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca-file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca-file %s: no PEM certificate in it", file)
			}
		}
		if certFile != "" {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert-file %s and --tls-key-file %s: %w", certFile, keyFile, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if token != "" {
		if !useTLS && !local(addr) {
			return nil, fmt.Errorf("refusing to send the bearer token in clear text to %s, beyond loopback: "+
				"use TLS (--tls-ca-file, or --tls for a certificate the system trusts)", addr)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: token, secure: useTLS}))
	}
	return opts, nil
}

// token reads the bearer token from --token-file or TokenEnv; "" when
// neither is set.
func (c *conn) token(getenv func(string) (string, bool)) (string, error) {
	file := *c.values["token-file"]
	env, inEnv := getenv(blacklistTokenEnv)
	var token, from string
	switch {
	case file != "" && inEnv:
		return "", fmt.Errorf("both --token-file (or %s) and %s are set: use one", envName("token-file"), blacklistTokenEnv)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		token, from = strings.TrimRight(string(b), "\r\n"), "--token-file "+file
	case inEnv:
		token, from = strings.TrimRight(env, "\r\n"), blacklistTokenEnv
	default:
		return "", nil
	}
	if token == "" {
		return "", fmt.Errorf("%s: the token is empty", from)
	}
	for _, r := range token {
		if r <= ' ' || r >= 0x7f {
			return "", fmt.Errorf("%s: the token holds a space, a control or a non-ASCII character", from)
		}
	}
	return token, nil
}

// local reports whether addr stays on this machine: a loopback IP,
// localhost, or a unix socket.
func local(addr string) bool {
	if strings.HasPrefix(addr, "unix:") {
		return true
	}
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

// bearer sends "authorization: Bearer <token>" with every call.
type bearer struct {
	token  string
	secure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: true
// over TLS, so that grpc-go never sends the token otherwise; false only for
// a plaintext connection to loopback, which dialOptions allows.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

// String keeps the token out of any %v of the credentials.
func (b bearer) String() string { return "bearer token [REDACTED]" }

// GoString keeps the token out of any %#v of the credentials.
func (b bearer) GoString() string { return b.String() }
