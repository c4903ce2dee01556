package deploy

import (
	"fmt"
	"net"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
)

// secretEnv are the settings whose value is a secret: never a literal
// value in a manifest, only a secretKeyRef (or their _FILE twin).
func secretEnv() map[string]bool {
	out := map[string]bool{"SERVICECENTERD_REDIS_URL": true}
	for _, s := range serveSettings() {
		if s.Secret {
			out[s.Env] = true
		}
	}
	return out
}

func serveSettings() []config.Setting {
	s, err := config.Settings(&server.Config{})
	if err != nil {
		panic(err)
	}
	return s
}

// knownEnv are the environment variables `servicecenterd serve` reads.
func knownEnv() map[string]bool {
	out := map[string]bool{config.EnvPrefix + "CONFIG": true}
	for _, s := range serveSettings() {
		out[s.Env] = true
	}
	return out
}

// podWant is what a pod of one mode must have.
type podWant struct {
	embedded bool // SQLite in a data dir; no database or Redis URL
	redis    bool // the Redis URL from a Secret
	tls      bool // HTTPS probes
}

// checkPod checks a pod template's spec the way every manifest of deploy/
// must pass: settings servicecenterd knows, secrets only from Secrets
// (files for the app secret, session and clients file), probes on the
// HTTP listener's /healthz and /readyz, a grace period longer than drain
// plus shutdown, a locked-down security context, and a writable volume
// for every path the server writes. It returns every problem found.
func checkPod(spec map[string]any, want podWant) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	containers := list(spec, "containers")
	if len(containers) != 1 {
		return []string{fmt.Sprintf("%d containers, want 1", len(containers))}
	}
	c, _ := asMap(containers[0])
	if args := list(c, "args"); len(args) == 0 || args[0] != "serve" {
		fail("args %v: want serve", args)
	}
	ports := map[string]int{}
	for _, p := range list(c, "ports") {
		ports[str(p, "name")] = toInt(get(p, "containerPort"))
	}

	env := map[string]map[string]any{}
	for _, e := range list(c, "env") {
		m, _ := asMap(e)
		name := str(m, "name")
		if _, dup := env[name]; dup {
			fail("env %s set twice", name)
		}
		env[name] = m
	}
	known, secret := knownEnv(), secretEnv()
	for name, e := range env {
		if !strings.HasPrefix(name, config.EnvPrefix) {
			continue
		}
		if !known[name] {
			fail("env %s is no setting of servicecenterd serve (docs/configuration.md)", name)
		}
		if _, literal := e["value"]; literal && secret[name] {
			fail("env %s holds a secret as a literal value: use a secretKeyRef or its _FILE setting", name)
		}
	}
	value := func(name string) string { return str(env[name], "value") }
	fromSecret := func(name, secretName, key string) {
		ref := get(env[name], "valueFrom", "secretKeyRef")
		if ref == nil || str(ref, "name") != secretName || str(ref, "key") != key {
			fail("env %s = %v, want secretKeyRef %s/%s", name, env[name], secretName, key)
		}
	}

	// Listeners: the container ports are the ones servicecenterd listens on.
	for _, l := range []struct{ env, port string }{{"SERVICECENTERD_GRPC_ADDR", "grpc"}, {"SERVICECENTERD_HTTP_ADDR", "http"}} {
		_, p, err := net.SplitHostPort(value(l.env))
		if err != nil || p != fmt.Sprint(ports[l.port]) || ports[l.port] == 0 {
			fail("%s %q does not listen on container port %s (%d)", l.env, value(l.env), l.port, ports[l.port])
		}
	}

	// Shared state or a data dir.
	if want.embedded {
		for _, n := range []string{"SERVICECENTERD_DATABASE_URL", "SERVICECENTERD_DATABASE_URL_FILE", "SERVICECENTERD_REDIS_URL"} {
			if env[n] != nil {
				fail("embedded mode sets %s", n)
			}
		}
		if value("SERVICECENTERD_DATA_DIR") == "" {
			fail("embedded mode without SERVICECENTERD_DATA_DIR")
		}
	} else {
		fromSecret("SERVICECENTERD_DATABASE_URL", "servicecenterd-database", "url")
		if want.redis {
			fromSecret("SERVICECENTERD_REDIS_URL", "servicecenterd-redis", "url")
		} else if env["SERVICECENTERD_REDIS_URL"] != nil {
			fail("SERVICECENTERD_REDIS_URL set with Redis off")
		}
	}
	if env["SERVICECENTERD_TOP_APP_SECRET"] != nil || env["SERVICECENTERD_TOP_SESSION"] != nil {
		fail("the app secret or session comes from an environment variable: mount them as files")
	}

	// Every file setting names a file of a mounted Secret (or ConfigMap
	// for --config), and every path the server writes is a writable
	// volume: the root file system is read-only.
	mounts := map[string]map[string]any{}
	for _, m := range list(c, "volumeMounts") {
		mm, _ := asMap(m)
		mounts[str(mm, "mountPath")] = mm
	}
	volume := func(name string) map[string]any { return named(list(spec, "volumes"), name) }
	files := []string{"SERVICECENTERD_TOP_APP_SECRET_FILE", "SERVICECENTERD_TOP_SESSION_FILE", "SERVICECENTERD_CLIENTS_FILE"}
	if want.tls {
		files = append(files, "SERVICECENTERD_TLS_CERT_FILE", "SERVICECENTERD_TLS_KEY_FILE")
	}
	for name := range env {
		if (strings.HasSuffix(name, "_FILE") || name == config.EnvPrefix+"CONFIG") && !slices.Contains(files, name) {
			files = append(files, name)
		}
	}
	for _, name := range files {
		p := value(name)
		if p == "" {
			fail("%s not set", name)
			continue
		}
		dir, file := path.Split(p)
		m := mounts[path.Clean(dir)]
		if m == nil {
			fail("%s %s: no volume mounted at %s", name, p, dir)
			continue
		}
		if get(m, "readOnly") != true {
			fail("%s: volume %s mounted writable", name, str(m, "name"))
		}
		v := volume(str(m, "name"))
		src := get(v, "secret")
		if name == config.EnvPrefix+"CONFIG" {
			src = get(v, "configMap")
		}
		if src == nil {
			fail("%s: volume %s is not a Secret", name, str(m, "name"))
			continue
		}
		if items := list(src, "items"); items != nil && !slices.ContainsFunc(items, func(i any) bool { return str(i, "path") == file }) {
			fail("%s: volume %s has no item %s", name, str(m, "name"), file)
		}
	}
	writable := []string{"/tmp"}
	if want.embedded {
		writable = append(writable, value("SERVICECENTERD_DATA_DIR"))
	}
	for _, p := range writable {
		m := mounts[p]
		if m == nil || get(m, "readOnly") == true {
			fail("%s is not a writable volume (the root file system is read-only)", p)
		}
	}

	// Probes: the HTTP listener's /healthz (startup, liveness) and /readyz.
	scheme := "HTTP"
	if want.tls {
		scheme = "HTTPS"
	}
	for probe, wantPath := range map[string]string{"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		g := get(c, probe, "httpGet")
		if g == nil || str(g, "path") != wantPath {
			fail("%s %v: want GET %s", probe, get(c, probe), wantPath)
			continue
		}
		if port := get(g, "port"); port != "http" && toInt(port) != ports["http"] {
			fail("%s port %v is not the HTTP listener's", probe, port)
		}
		if s := str(g, "scheme"); s != scheme && !(s == "" && scheme == "HTTP") {
			fail("%s scheme %q, want %s", probe, s, scheme)
		}
	}

	// Grace: drain delay + shutdown timeout fit in the grace period.
	drain, err1 := time.ParseDuration(value("SERVICECENTERD_DRAIN_DELAY"))
	shutdown, err2 := time.ParseDuration(value("SERVICECENTERD_SHUTDOWN_TIMEOUT"))
	grace := time.Duration(toInt(get(spec, "terminationGracePeriodSeconds"))) * time.Second
	if err1 != nil || err2 != nil || grace <= drain+shutdown {
		fail("terminationGracePeriodSeconds %v must exceed drain delay %q + shutdown timeout %q", grace, value("SERVICECENTERD_DRAIN_DELAY"), value("SERVICECENTERD_SHUTDOWN_TIMEOUT"))
	}

	// Security.
	sc, psc := get(c, "securityContext"), get(spec, "securityContext")
	either := func(key string) any {
		if v := get(sc, key); v != nil {
			return v
		}
		return get(psc, key)
	}
	if get(sc, "readOnlyRootFilesystem") != true {
		fail("readOnlyRootFilesystem not true")
	}
	if get(sc, "allowPrivilegeEscalation") != false {
		fail("allowPrivilegeEscalation not false")
	}
	if either("runAsNonRoot") != true {
		fail("runAsNonRoot not true")
	}
	if u := either("runAsUser"); u != nil && toInt(u) == 0 {
		fail("runAsUser 0")
	}
	if drop := list(sc, "capabilities", "drop"); !slices.Contains(drop, any("ALL")) {
		fail("capabilities.drop %v: want ALL", drop)
	}
	if list(sc, "capabilities", "add") != nil {
		fail("capabilities added")
	}
	if str(either("seccompProfile"), "type") != "RuntimeDefault" {
		fail("seccompProfile not RuntimeDefault")
	}
	if get(spec, "automountServiceAccountToken") != false {
		fail("the service account token is mounted: servicecenterd calls no Kubernetes API")
	}
	if get(c, "resources", "requests", "cpu") == nil || get(c, "resources", "requests", "memory") == nil {
		fail("no CPU and memory requests")
	}
	return errs
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case uint64:
		return int(n)
	}
	return 0
}

// sameProbes compares two containers' probes, an unset scheme being HTTP.
func sameProbes(a, b map[string]any) bool {
	norm := func(c map[string]any) map[string]any {
		out := map[string]any{}
		for _, p := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
			m, _ := asMap(get(c, p))
			cp := map[string]any{}
			for k, v := range m {
				cp[k] = v
			}
			if g, ok := asMap(cp["httpGet"]); ok {
				gc := map[string]any{}
				for k, v := range g {
					if k == "scheme" && v == "HTTP" {
						continue
					}
					gc[k] = v
				}
				cp["httpGet"] = gc
			}
			out[p] = cp
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}
