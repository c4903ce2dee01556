package tlsfiles

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/servicecenterd/servicecenterd/internal/testutil/testpki"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve accepts TLS connections with cfg and completes their handshakes;
// after a handshake that succeeded it writes one byte, the verdict dial
// waits for.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte{1})
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

func dial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	// In TLS 1.3 the server's verdict on a client certificate arrives
	// after the client's handshake is done: wait for serve's byte (the
	// handshake succeeded) or the alert (it failed), however long the
	// server takes; the deadline only bounds a hang.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}

func TestReloadAndClientAuth(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ca")
	certFile, keyFile := ca.Localhost(t).WriteFiles(t, dir, "server")
	caFile := filepath.Join(dir, "ca.pem")
	testpki.WriteFile(t, caFile, ca.PEM)
	s, err := Load(Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.ServerConfig(true, []string{"h2"}))
	client := ca.Issue(t, testpki.Leaf{URIs: []string{"spiffe://t/c"}, Client: true}).TLS(t)
	cfg := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}

	old, err := dial(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if old.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN %q", old.ConnectionState().NegotiatedProtocol)
	}
	if _, err := dial(addr, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("no client certificate accepted while required")
	}

	rotated := ca.Localhost(t)
	testpki.WriteFile(t, certFile, rotated.CertPEM)
	testpki.WriteFile(t, keyFile, rotated.KeyPEM)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh, err := dial(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := fresh.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(rotated.Cert.SerialNumber) != 0 {
		t.Fatalf("new connection got serial %v, want %v", got, rotated.Cert.SerialNumber)
	}
	if _, err := old.Write([]byte("still up")); err != nil {
		t.Fatalf("old connection dropped: %v", err)
	}

	testpki.WriteFile(t, keyFile, []byte("garbage"))
	if err := s.Reload(); err == nil {
		t.Fatal("broken key accepted")
	}
	if s.Certificate().Leaf.SerialNumber.Cmp(rotated.Cert.SerialNumber) != 0 {
		t.Fatal("a failed reload replaced the certificate")
	}
}

func TestOptionalClientCert(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ca")
	certFile, keyFile := ca.Localhost(t).WriteFiles(t, dir, "server")
	caFile := filepath.Join(dir, "ca.pem")
	testpki.WriteFile(t, caFile, ca.PEM)
	s, err := Load(Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.ServerConfig(false, nil))
	if c, err := dial(addr, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatalf("without a certificate: %v", err)
	} else {
		c.Close()
	}
	stranger := testpki.NewCA(t, "other").Issue(t, testpki.Leaf{Client: true}).TLS(t)
	// GetClientCertificate sends the certificate although the server asks
	// for another CA (Go's client would otherwise send none).
	forced := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }}
	if _, err := dial(addr, forced); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ca")
	certFile, keyFile := ca.Localhost(t).WriteFiles(t, dir, "server")
	s, err := Load(Files{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, time.Millisecond, slog.New(slog.DiscardHandler)) }()
	rotated := ca.Localhost(t)
	testpki.WriteFile(t, keyFile, rotated.KeyPEM)
	testpki.WriteFile(t, certFile, rotated.CertPEM)
	deadline := time.Now().Add(10 * time.Second)
	for s.Certificate().Leaf.SerialNumber.Cmp(rotated.Cert.SerialNumber) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("rotation not picked up")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ca")
	certFile, keyFile := ca.Localhost(t).WriteFiles(t, dir, "a")
	_, otherKey := ca.Localhost(t).WriteFiles(t, dir, "b")
	notPEM := filepath.Join(dir, "x.pem")
	testpki.WriteFile(t, notPEM, []byte("x"))
	for _, tt := range []struct {
		f    Files
		want string
	}{
		{Files{CertFile: certFile, KeyFile: otherKey}, "does not match"},
		{Files{CertFile: filepath.Join(dir, "none"), KeyFile: keyFile}, "no such file"},
		{Files{CertFile: certFile, KeyFile: keyFile, ClientCAFile: notPEM}, "no PEM certificate"},
	} {
		if err := tt.f.Check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.f, err, tt.want)
		}
	}
	if err := (Files{CertFile: certFile, KeyFile: keyFile}).Check(); err != nil {
		t.Fatal(err)
	}
}
