package deploy

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// opsToken is the demo token of examples/clients.yaml's "ops" client.
const opsToken = "scd_xzrHkVdiS5H9Uk7Nr5LqxqtMusvZ5YuKaNI0GpWl12c"

// TestChartPodServes runs the built servicecenterd the way the chart's pod
// runs it: the container's args and environment as rendered, secretKeyRefs
// resolved and every Secret volume written as files at its mount path
// (under a scratch root), the data dir likewise. Only two things differ,
// as a test must: the listeners bind loopback ports of their own, and TOP
// is an emulator of the test's own (the demo app key, secret and session
// in the TOP Secret). It must answer /healthz and /readyz, refuse a call
// without a token (the clients file was read) and answer one with a
// token (the app secret and session files were read: the emulator checks
// the signature and the session), and log at start the settings the chart
// means (the settings ConfigMap's included) without a secret's value.
func TestChartPodServes(t *testing.T) {
	clients, err := os.ReadFile(filepath.Join(repoRoot, "examples", "clients.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		db   bool // a PostgreSQL database in the database Secret
	}{
		{"embedded", []string{"--set", "mode=embedded", "--set-json", `settings={"sync_chunk_size":50}`}, false},
		// Redis off: with a Redis URL a replica would write keys that a
		// test could not remove (--redis-prefix is not a setting yet).
		{"replicated on PostgreSQL", []string{"--set", "replicaCount=3", "--set", "redis.enabled=false"}, true},
	}
	bin := testserver.Binary(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu := testserver.StartEmulator(t, topemu.Config{})
			secrets := map[string]map[string]string{
				"servicecenterd-top":     {"app-key": topemu.DefaultAppKey, "app-secret": topemu.DefaultAppSecret + "\n", "session": topemu.DefaultSession + "\n"},
				"servicecenterd-clients": {"clients.yaml": string(clients)},
			}
			if tc.db {
				secrets["servicecenterd-database"] = map[string]string{"url": pgmigrated.NewDatabase(t)}
			}
			objs, err := renderChart(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var pod map[string]any
			for _, o := range objs {
				if o.kind() == "Deployment" || o.kind() == "StatefulSet" {
					pod, _ = asMap(get(o, "spec", "template", "spec"))
				}
			}
			c, _ := asMap(list(pod, "containers")[0])
			root := t.TempDir()

			// The volumes, as the kubelet would mount them.
			for _, m := range list(c, "volumeMounts") {
				dir := filepath.Join(root, str(m, "mountPath"))
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				v := named(list(pod, "volumes"), str(m, "name"))
				if cm := str(v, "configMap", "name"); cm != "" {
					for _, o := range objs {
						if o.kind() != "ConfigMap" || o.name() != cm {
							continue
						}
						data, _ := asMap(get(o, "data"))
						for key, value := range data {
							if err := os.WriteFile(filepath.Join(dir, key), []byte(value.(string)), 0o600); err != nil {
								t.Fatal(err)
							}
						}
					}
					continue
				}
				name := str(v, "secret", "secretName")
				if name == "" {
					continue // emptyDir, the data volume
				}
				data, ok := secrets[name]
				if !ok {
					t.Fatalf("the pod mounts Secret %s, which the test does not know", name)
				}
				files := map[string]string{}
				for k := range data {
					files[k] = k
				}
				if items := list(v, "secret", "items"); items != nil {
					files = map[string]string{}
					for _, it := range items {
						files[str(it, "key")] = str(it, "path")
					}
				}
				for key, path := range files {
					if err := os.WriteFile(filepath.Join(dir, path), []byte(data[key]), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}

			// The environment, secretKeyRefs resolved, paths under root.
			for _, e := range list(c, "env") {
				name, value := str(e, "name"), str(e, "value")
				if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
					v, ok := secrets[str(ref, "name")][str(ref, "key")]
					if !ok {
						t.Fatalf("env %s: Secret %s has no key %s in the test", name, str(ref, "name"), str(ref, "key"))
					}
					value = v
				} else if get(e, "valueFrom", "fieldRef") != nil {
					value = "servicecenterd-0"
				}
				if strings.HasPrefix(value, "/") {
					value = filepath.Join(root, value)
				}
				t.Setenv(name, value)
			}
			t.Setenv("SERVICECENTERD_GRPC_ADDR", "127.0.0.1:0")
			t.Setenv("SERVICECENTERD_HTTP_ADDR", "127.0.0.1:0")
			t.Setenv("SERVICECENTERD_TOP_URL", emu.URL+"/router/rest")
			t.Setenv("HOME", root)

			var args []string
			for _, a := range list(c, "args") {
				args = append(args, a.(string))
			}
			p := testserver.StartProcess(t, bin, args...)
			for _, path := range []string{"/healthz", "/readyz"} {
				resp, err := http.Get("http://" + p.HTTPAddr + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: %d", path, resp.StatusCode)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), testserver.WaitTimeout)
			defer cancel()
			req := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
			if _, err := p.Workers.GetWorkerTags(ctx, req); status.Code(err) != codes.Unauthenticated {
				t.Errorf("a call without a token: %v, want Unauthenticated (is the clients file read?)", err)
			}
			out, err := p.Workers.GetWorkerTags(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+opsToken), req)
			if err != nil || !out.GetSuccess() || out.GetTopRequestId() == "" {
				t.Errorf("a call with the ops token: %v, %v", out, err)
			}
			if tc.db && !strings.Contains(p.Logs.String(), "postgres") {
				t.Errorf("no log line names PostgreSQL: is the database URL used?\n%s", p.Logs)
			}
			p.Stop(t)

			// The settings servicecenterd resolved, as it logs them at start.
			var settings map[string]any
			for _, line := range strings.Split(p.Logs.String(), "\n") {
				var l map[string]any
				if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "settings" {
					settings = l
				}
			}
			want := map[string]string{
				"log_format": "json", "grpc_max_connection_age": "5m0s", "shutdown_timeout": "10s",
				"top_app_key":         topemu.DefaultAppKey,
				"top_app_secret_file": filepath.Join(root, "/etc/servicecenterd/top/app-secret"),
				"top_session_file":    filepath.Join(root, "/etc/servicecenterd/top/session"),
				"clients_file":        filepath.Join(root, "/etc/servicecenterd/clients/clients.yaml"),
			}
			if tc.db {
				want["database_url"] = "[REDACTED]"
			} else {
				want["data_dir"] = filepath.Join(root, "/var/lib/servicecenterd")
				want["sync_chunk_size"] = "50" // from the settings ConfigMap
			}
			for key, v := range want {
				if settings[key] != v {
					t.Errorf("setting %s = %v, want %q (settings logged: %v)", key, settings[key], v, settings)
				}
			}
			for _, secret := range []string{topemu.DefaultAppSecret, topemu.DefaultSession} {
				if strings.Contains(p.Logs.String(), secret) {
					t.Errorf("the log holds a secret of the TOP Secret")
				}
			}
		})
	}
}
