package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testpki"
)

// Tokens of the secured server's clients; none may ever be printed.
const (
	blacklistTokenOps = "scd_cli-ops-token-4Hq9"
	tokenReader       = "scd_cli-reader-token-8Zt2"
	tokenWrong        = "scd_cli-wrong-token-1Pw6"
)

// TestSecuredServer runs the commands against a real servicecenterd with
// a clients file (bearer tokens and a client certificate SAN), TLS and
// client certificates, with the credentials given by flags and by the
// environment, and the ways that fail. No output or error ever shows a
// token.
func TestSecuredServer(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "servicecenterd test CA")
	serverCert, serverKey := ca.Localhost(t).WriteFiles(t, dir, "server")
	caFile := filepath.Join(dir, "ca.crt")
	testpki.WriteFile(t, caFile, ca.PEM)
	clientCert, clientKey := ca.Issue(t, testpki.Leaf{CommonName: "blacklist cli", URIs: []string{"spiffe://corp/blacklist-cli"}, Client: true}).
		WriteFiles(t, dir, "client")
	strangerCert, strangerKey := testpki.NewCA(t, "another CA").Issue(t, testpki.Leaf{CommonName: "stranger", URIs: []string{"spiffe://corp/blacklist-cli"}, Client: true}).
		WriteFiles(t, dir, "stranger")
	clients := filepath.Join(dir, "clients.yaml")
	testpki.WriteFile(t, clients, []byte(`clients:
  - name: ops
    token_sha256: [`+auth.HashToken(blacklistTokenOps)+`]
    allow: ["*"]
  - name: reader
    token_sha256: [`+auth.HashToken(tokenReader)+`]
    allow: [servicecenter.v1.LogisticsService/ListBlacklistSyncJobs, servicecenter.v1.LogisticsService/GetBlacklistSyncJob]
  - name: cli
    cert_sans: [spiffe://corp/blacklist-cli]
    allow: [servicecenter.v1.LogisticsService/*]
`))
	writeToken := func(name, token string) string {
		path := filepath.Join(dir, name)
		testpki.WriteFile(t, path, []byte(token+"\n"))
		return path
	}
	opsFile, readerFile, wrongFile, emptyFile := writeToken("ops.token", blacklistTokenOps), writeToken("reader.token", tokenReader),
		writeToken("wrong.token", tokenWrong), writeToken("empty.token", "")

	s := startServerWith(t, func(c *server.Config) {
		c.Auth.ClientsFile = clients
		c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ClientCAFile = serverCert, serverKey, caFile
	})
	addr := s.GRPCAddr()
	file := csvFile(t, 30, "")

	// The job the other cases look at, imported with a token file and the
	// server's CA, followed to its end.
	out, errOut, err := runBlacklistCLI(t, "import", file, "--supplier-id", "10000000001", "--addr", addr, "--token-file", opsFile, "--tls-ca-file", caFile)
	if err != nil || !strings.Contains(out, "SUCCEEDED: 30 of 30 acknowledged") {
		t.Fatalf("import with --token-file and --tls-ca-file: %v\n%s%s", err, out, errOut)
	}
	id := jobIDRe.FindStringSubmatch(out)[1]

	tests := []struct {
		name string
		env  map[string]string
		args []string
		// want is in the output when the command succeeds, in the error
		// otherwise.
		want string
		ok   bool
	}{
		{"token and CA from the environment", map[string]string{
			blacklistTokenEnv: blacklistTokenOps, "SERVICECENTERD_BLACKLIST_TLS_CA_FILE": caFile, "SERVICECENTERD_BLACKLIST_ADDR": addr,
		}, []string{"jobs"}, id, true},
		{"token file from the environment", map[string]string{
			"SERVICECENTERD_BLACKLIST_TOKEN_FILE": opsFile, "SERVICECENTERD_BLACKLIST_TLS_CA_FILE": caFile,
		}, []string{"status", id, "--addr", addr}, "acknowledged:  30", true},
		{"client certificate", nil,
			[]string{"status", id, "--wait", "--addr", addr, "--tls-ca-file", caFile, "--tls-cert-file", clientCert, "--tls-key-file", clientKey},
			"SUCCEEDED: 30 of 30", true},
		{"client certificate from the environment", map[string]string{
			"SERVICECENTERD_BLACKLIST_TLS_CA_FILE": caFile, "SERVICECENTERD_BLACKLIST_TLS_CERT_FILE": clientCert,
			"SERVICECENTERD_BLACKLIST_TLS_KEY_FILE": clientKey, "SERVICECENTERD_BLACKLIST_ADDR": addr,
		}, []string{"import", file, "--supplier-id", "10000000001", "--no-wait"}, "queued: 30 received", true},
		{"the server name checked", nil,
			[]string{"jobs", "--addr", addr, "--token-file", opsFile, "--tls-ca-file", caFile, "--tls-server-name", "localhost"}, id, true},
		{"a flag beats its environment variable", map[string]string{blacklistTokenEnv: blacklistTokenOps, "SERVICECENTERD_BLACKLIST_ADDR": "127.0.0.1:1"},
			[]string{"jobs", "--addr", addr, "--tls-ca-file", caFile}, id, true},

		{"no credentials", nil, []string{"jobs", "--addr", addr, "--tls-ca-file", caFile},
			"(Unauthenticated) (give a token with --token-file or SERVICECENTERD_TOKEN, or a client certificate", false},
		{"a wrong token", nil, []string{"jobs", "--addr", addr, "--tls-ca-file", caFile, "--token-file", wrongFile},
			"invalid bearer token (Unauthenticated) (the server refused the token)", false},
		{"a token not allowed to cancel", map[string]string{blacklistTokenEnv: tokenReader},
			[]string{"cancel", id, "--addr", addr, "--tls-ca-file", caFile}, "(PermissionDenied)", false},
		// The TLS client does not present a certificate the server's
		// CAs did not issue: the server sees none.
		{"a certificate of another CA", nil,
			[]string{"jobs", "--addr", addr, "--tls-ca-file", caFile, "--tls-cert-file", strangerCert, "--tls-key-file", strangerKey},
			"(Unauthenticated) (the server did not take the client certificate: is it issued by a CA of the server's --tls-client-ca-file?)", false},
		{"plaintext to a TLS server", map[string]string{blacklistTokenEnv: blacklistTokenOps}, []string{"jobs", "--addr", addr},
			"(if the server uses TLS: --tls-ca-file FILE, or --tls)", false},
		{"the system's CAs do not know the server", nil, []string{"jobs", "--addr", addr, "--tls", "--token-file", readerFile},
			"certificate signed by unknown authority", false},
		{"the wrong server name", nil,
			[]string{"jobs", "--addr", addr, "--token-file", opsFile, "--tls-ca-file", caFile, "--tls-server-name", "servicecenterd.example"},
			"servicecenterd.example", false},
		{"a token in clear text beyond loopback", map[string]string{blacklistTokenEnv: blacklistTokenOps}, []string{"jobs", "--addr", "192.0.2.1:9090"},
			"refusing to send the bearer token in clear text to 192.0.2.1:9090", false},
		{"both a token file and a token", map[string]string{blacklistTokenEnv: blacklistTokenOps},
			[]string{"jobs", "--addr", addr, "--tls-ca-file", caFile, "--token-file", opsFile}, "use one", false},
		{"an empty token file", nil, []string{"jobs", "--addr", addr, "--tls-ca-file", caFile, "--token-file", emptyFile},
			"the token is empty", false},
		{"a token with a space", map[string]string{blacklistTokenEnv: blacklistTokenOps + " x"}, []string{"jobs", "--addr", addr, "--tls-ca-file", caFile},
			"SERVICECENTERD_TOKEN: the token holds a space", false},
		{"a missing token file", nil, []string{"jobs", "--addr", addr, "--token-file", filepath.Join(dir, "none")}, "--token-file", false},
		{"a certificate without its key", nil, []string{"jobs", "--addr", addr, "--tls-cert-file", clientCert},
			"--tls-cert-file and --tls-key-file go together", false},
		{"a CA file without certificates", nil, []string{"jobs", "--addr", addr, "--tls-ca-file", emptyFile}, "no PEM certificate", false},
		{"a bad boolean in the environment", map[string]string{"SERVICECENTERD_BLACKLIST_TLS": "sure"}, []string{"jobs", "--addr", addr},
			`SERVICECENTERD_BLACKLIST_TLS: "sure" is not true or false`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runEnv(t, tt.env, tt.args...)
			all := out + errOut
			if err != nil {
				all += err.Error()
			}
			for _, token := range []string{blacklistTokenOps, tokenReader, tokenWrong} {
				if strings.Contains(all, token) {
					t.Fatalf("a token was printed:\n%s", all)
				}
			}
			switch {
			case tt.ok && err != nil:
				t.Fatalf("%v\n%s", err, all)
			case tt.ok && !strings.Contains(out, tt.want):
				t.Fatalf("output lacks %q:\n%s", tt.want, all)
			case !tt.ok && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err %v, want %q\n%s", err, tt.want, all)
			}
		})
	}
}

// TestConnectionFlagsUsage: every command lists the connection flags
// with their environment variables.
func TestConnectionFlagsUsage(t *testing.T) {
	for _, cmd := range []string{"import", "jobs", "status", "cancel"} {
		_, errOut, _ := runBlacklistCLI(t, cmd, "-h")
		for _, want := range []string{
			"-addr string", "SERVICECENTERD_BLACKLIST_ADDR", "-token-file string", "SERVICECENTERD_BLACKLIST_TOKEN_FILE",
			"-tls\n", "SERVICECENTERD_BLACKLIST_TLS)", "-tls-ca-file string", "SERVICECENTERD_BLACKLIST_TLS_CA_FILE",
			"-tls-cert-file string", "SERVICECENTERD_BLACKLIST_TLS_CERT_FILE", "-tls-key-file string", "SERVICECENTERD_BLACKLIST_TLS_KEY_FILE",
			"-tls-server-name string", "SERVICECENTERD_BLACKLIST_TLS_SERVER_NAME", "SERVICECENTERD_TOKEN holds the bearer token",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s -h lacks %q:\n%s", cmd, want, errOut)
			}
		}
	}
}
