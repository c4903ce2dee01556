// Package tlsfiles serves TLS from certificate, key and client CA files
// and reloads them when they change, without dropping connections: each
// new handshake takes the current certificate and client CA pool, and
// connections already established keep theirs.
package tlsfiles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/filewatch"
)

// Files names the files of a TLS server.
type Files struct {
	// CertFile and KeyFile hold the server's certificate chain and private
	// key (PEM).
	CertFile, KeyFile string
	// ClientCAFile, when set, holds the CAs (PEM) that client certificates
	// must chain to (mTLS).
	ClientCAFile string
}

// Check loads the files once and reports what is wrong with them.
func (f Files) Check() error {
	_, _, err := f.load()
	return err
}

func (f Files) load() (*tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
	}
	if cert.Leaf != nil && time.Now().After(cert.Leaf.NotAfter) {
		return nil, nil, fmt.Errorf("tls certificate %s expired at %s", f.CertFile, cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	if f.ClientCAFile == "" {
		return &cert, nil, nil
	}
	pem, err := os.ReadFile(f.ClientCAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("tls client CA %s: no PEM certificate in it", f.ClientCAFile)
	}
	return &cert, pool, nil
}

// Store holds the current certificate and client CA pool.
type Store struct {
	files Files
	cert  atomic.Pointer[tls.Certificate]
	pool  atomic.Pointer[x509.CertPool]
	// watcher has the files' state from before Load read them, so that
	// Watch sees a change made between Load and Watch.
	watcher *filewatch.Watcher
}

// Load reads the files; the certificate must match its key.
func Load(f Files) (*Store, error) {
	s := &Store{files: f}
	w, werr := filewatch.New(f.names()...)
	if err := s.Reload(); err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, fmt.Errorf("tls files: %w", werr)
	}
	s.watcher = w
	return s, nil
}

// names lists the files.
func (f Files) names() []string {
	if f.ClientCAFile == "" {
		return []string{f.CertFile, f.KeyFile}
	}
	return []string{f.CertFile, f.KeyFile, f.ClientCAFile}
}

// Reload reads the files again; on error the previous certificate and
// pool stay in use.
func (s *Store) Reload() error {
	cert, pool, err := s.files.load()
	if err != nil {
		return err
	}
	s.cert.Store(cert)
	s.pool.Store(pool)
	return nil
}

// Certificate is the certificate new handshakes present.
func (s *Store) Certificate() *tls.Certificate { return s.cert.Load() }

// MutualTLS reports whether client certificates are verified.
func (s *Store) MutualTLS() bool { return s.files.ClientCAFile != "" }

// Watch polls the files every interval until ctx is done and reloads them
// when they change (since Load: a change made before Watch starts counts
// too), logging each reload and each failure (the old files then stay in
// use). Call it at most once per Store.
func (s *Store) Watch(ctx context.Context, interval time.Duration, logger *slog.Logger) error {
	filewatch.Poll(ctx, s.watcher, interval, func() {
		if err := s.Reload(); err != nil {
			logger.Error("tls files changed but cannot be loaded; keeping the previous ones", slog.String("error", err.Error()))
			return
		}
		attrs := []any{slog.String("cert_file", s.files.CertFile)}
		if leaf := s.Certificate().Leaf; leaf != nil {
			attrs = append(attrs, slog.String("serial", leaf.SerialNumber.String()), slog.Time("not_after", leaf.NotAfter))
		}
		logger.Info("tls files reloaded", attrs...)
	}, func(err error) {
		logger.Error("tls files", slog.String("error", err.Error()))
	})
	return nil
}

// ServerConfig returns a server tls.Config that takes the current
// certificate and client CA pool at each handshake. nextProtos are the
// ALPN protocols ("h2" for gRPC; "h2", "http/1.1" for HTTP). With a client
// CA, client certificates are always verified, and required when
// requireClientCert is set (else a caller may come without one and
// authenticate otherwise, or call an open endpoint).
func (s *Store) ServerConfig(requireClientCert bool, nextProtos []string) *tls.Config {
	clientAuth := tls.NoClientCert
	if s.MutualTLS() {
		clientAuth = tls.VerifyClientCertIfGiven
		if requireClientCert {
			clientAuth = tls.RequireAndVerifyClientCert
		}
	}
	perHandshake := func() *tls.Config {
		return &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   nextProtos,
			Certificates: []tls.Certificate{*s.cert.Load()},
			ClientAuth:   clientAuth,
			ClientCAs:    s.pool.Load(),
		}
	}
	cfg := perHandshake()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return perHandshake(), nil }
	return cfg
}
