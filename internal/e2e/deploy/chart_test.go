package deploy

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestChart renders the chart with the defaults, with N replicas, in the
// embedded mode and with TLS and settings, and checks the objects: their
// kinds, the workload's replicas and pod (checkPod), the Services' ports,
// the PodDisruptionBudget, the StatefulSet's volume, the ConfigMap's keys.
func TestChart(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		kinds    []string // every kind rendered, sorted, repeated per object
		workload string
		replicas int
		pdbMin   int // 0: no PodDisruptionBudget
		want     podWant
		settings []string // YAML keys of the settings ConfigMap
		otlp     string   // OTEL_EXPORTER_OTLP_ENDPOINT; "": tracing off
	}{
		{
			name:  "defaults",
			kinds: []string{"Deployment", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"}, workload: "Deployment",
			replicas: 2, pdbMin: 1, want: podWant{redis: true},
		},
		{
			name: "3 replicas", args: []string{"--set", "replicaCount=3"},
			kinds: []string{"Deployment", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"}, workload: "Deployment",
			replicas: 3, pdbMin: 2, want: podWant{redis: true},
		},
		{
			name: "1 replica has no PodDisruptionBudget", args: []string{"--set", "replicaCount=1"},
			kinds: []string{"Deployment", "Service", "Service", "ServiceAccount"}, workload: "Deployment",
			replicas: 1, want: podWant{redis: true},
		},
		{
			name: "3 replicas without Redis", args: []string{"--set", "replicaCount=3", "--set", "redis.enabled=false"},
			kinds: []string{"Deployment", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"}, workload: "Deployment",
			replicas: 3, pdbMin: 2, want: podWant{},
		},
		{
			name: "embedded", args: []string{"--set", "mode=embedded"},
			kinds: []string{"Service", "Service", "ServiceAccount", "StatefulSet"}, workload: "StatefulSet",
			replicas: 1, want: podWant{embedded: true},
		},
		{
			name: "TLS, mTLS and settings",
			args: []string{"--set", "replicaCount=4", "--set", "tls.secretName=sc-tls", "--set", "tls.clientCA=true",
				"--set", "pdb.minAvailable=50%", "--set-json", `settings={"sync_concurrent_jobs":4,"audit_retention":"720h"}`},
			kinds:    []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"},
			workload: "Deployment", replicas: 4, want: podWant{redis: true, tls: true},
			settings: []string{"audit_retention", "sync_concurrent_jobs"},
		},
		{
			name: "tracing", args: []string{"--set", "tracing.otlpEndpoint=http://otel-collector:4317", "--set", "tracing.sampleRatio=0.01"},
			kinds: []string{"Deployment", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"}, workload: "Deployment",
			replicas: 2, pdbMin: 1, want: podWant{redis: true}, otlp: "http://otel-collector:4317",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs, err := renderChart(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.kind())
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, tc.kinds) {
				t.Fatalf("kinds %v, want %v", kinds, tc.kinds)
			}
			k := byKind(objs)
			w := k[tc.workload][0]
			if n := toInt(get(w, "spec", "replicas")); n != tc.replicas {
				t.Errorf("%s replicas %d, want %d", tc.workload, n, tc.replicas)
			}
			selector, _ := asMap(get(w, "spec", "selector", "matchLabels"))
			podLabels, _ := asMap(get(w, "spec", "template", "metadata", "labels"))
			for key, v := range selector {
				if podLabels[key] != v {
					t.Errorf("pod labels %v do not match the selector %v", podLabels, selector)
				}
			}
			spec, _ := asMap(get(w, "spec", "template", "spec"))
			for _, e := range checkPod(spec, tc.want) {
				t.Error(e)
			}
			c, _ := asMap(list(spec, "containers")[0])
			envValue := func(name string) string { return str(named(list(c, "env"), name), "value") }
			if got := envValue("OTEL_EXPORTER_OTLP_ENDPOINT"); got != tc.otlp {
				t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q, want %q", got, tc.otlp)
			}
			if tc.otlp != "" && (envValue("OTEL_TRACES_SAMPLER") != "parentbased_traceidratio" || envValue("OTEL_TRACES_SAMPLER_ARG") != "0.01") {
				t.Errorf("sampler %q %q, want parentbased_traceidratio 0.01", envValue("OTEL_TRACES_SAMPLER"), envValue("OTEL_TRACES_SAMPLER_ARG"))
			}
			if !strings.Contains(envValue("OTEL_RESOURCE_ATTRIBUTES"), "k8s.pod.name=$(POD_NAME)") || named(list(c, "env"), "POD_NAME") == nil {
				t.Errorf("OTEL_RESOURCE_ATTRIBUTES %q does not name the pod", envValue("OTEL_RESOURCE_ATTRIBUTES"))
			}

			// Services: gRPC and HTTP to the named container ports, one
			// headless; both select the pods.
			headless := 0
			for _, svc := range k["Service"] {
				sel, _ := asMap(get(svc, "spec", "selector"))
				for key, v := range sel {
					if podLabels[key] != v {
						t.Errorf("Service %s selector %v does not select the pods", svc.name(), sel)
					}
				}
				if str(svc, "spec", "clusterIP") == "None" {
					headless++
				}
				grpc, http := named(list(svc, "spec", "ports"), "grpc"), named(list(svc, "spec", "ports"), "http")
				if toInt(get(grpc, "port")) != 9090 || get(grpc, "targetPort") != "grpc" || toInt(get(http, "port")) != 8080 || get(http, "targetPort") != "http" {
					t.Errorf("Service %s ports %v", svc.name(), list(svc, "spec", "ports"))
				}
				if ap := str(grpc, "appProtocol"); tc.want.tls && ap != "" || !tc.want.tls && ap != "kubernetes.io/h2c" {
					t.Errorf("Service %s gRPC appProtocol %q (TLS %v)", svc.name(), ap, tc.want.tls)
				}
			}
			if headless != 1 {
				t.Errorf("%d headless Services, want 1", headless)
			}

			if tc.pdbMin > 0 {
				pdb := k["PodDisruptionBudget"][0]
				if toInt(get(pdb, "spec", "minAvailable")) != tc.pdbMin {
					t.Errorf("PodDisruptionBudget minAvailable %v, want %d", get(pdb, "spec", "minAvailable"), tc.pdbMin)
				}
			}
			if pdbs := k["PodDisruptionBudget"]; len(pdbs) == 1 && tc.pdbMin == 0 && get(pdbs[0], "spec", "minAvailable") != "50%" {
				t.Errorf("PodDisruptionBudget minAvailable %v, want the value's 50%%", get(pdbs[0], "spec", "minAvailable"))
			}

			if tc.want.embedded {
				if !slices.ContainsFunc(k["Service"], func(s object) bool {
					return s.name() == str(w, "spec", "serviceName") && str(s, "spec", "clusterIP") == "None"
				}) {
					t.Errorf("StatefulSet serviceName %q is no headless Service", str(w, "spec", "serviceName"))
				}
				vcts := list(w, "spec", "volumeClaimTemplates")
				if len(vcts) != 1 || str(vcts[0], "metadata", "name") != "data" || get(vcts[0], "spec", "resources", "requests", "storage") == nil {
					t.Errorf("volumeClaimTemplates %v: want one named data with a size", list(w, "spec", "volumeClaimTemplates"))
				}
				dataDir := envValue("SERVICECENTERD_DATA_DIR")
				if m := named(list(c, "volumeMounts"), "data"); str(m, "mountPath") != dataDir {
					t.Errorf("volume data mounted at %q, data dir %q", str(m, "mountPath"), dataDir)
				}
			}

			if tc.settings != nil {
				cm := k["ConfigMap"][0]
				var file map[string]any
				if err := yaml.Unmarshal([]byte(str(cm, "data", "config.yaml")), &file); err != nil {
					t.Fatalf("ConfigMap config.yaml: %v", err)
				}
				var keys []string
				for key := range file {
					keys = append(keys, key)
				}
				slices.Sort(keys)
				if !slices.Equal(keys, tc.settings) {
					t.Errorf("settings file keys %v, want %v", keys, tc.settings)
				}
				yamlKeys := map[string]bool{}
				for _, s := range serveSettings() {
					yamlKeys[s.Key] = true
				}
				for _, key := range keys {
					if !yamlKeys[key] {
						t.Errorf("settings key %s is no setting", key)
					}
				}
				if str(w, "spec", "template", "metadata", "annotations", "checksum/settings") == "" {
					t.Error("no checksum/settings annotation: pods would not restart when the settings change")
				}
			}
		})
	}
}

// TestChartRefuses renders values that would deploy something broken and
// checks that helm fails with a message naming the value.
func TestChartRefuses(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"embedded with 3 replicas", []string{"--set", "mode=embedded", "--set", "replicaCount=3"}, "mode embedded runs one replica"},
		{"unknown mode", []string{"--set", "mode=cluster"}, `at '/mode': value must be one of 'replicated', 'embedded'`},
		{"a mistyped value", []string{"--set", "replicas=3"}, `additional properties 'replicas' not allowed`},
		{"a bad sample ratio", []string{"--set", "tracing.sampleRatio=2"}, `/tracing/sampleRatio`},
		{"no database", []string{"--set", "database.existingSecret="}, "needs database.existingSecret"},
		{"Redis without a Secret", []string{"--set", "redis.existingSecret="}, "redis.enabled needs redis.existingSecret"},
		{"no clients file", []string{"--set", "auth.clientsSecret="}, "auth.clientsSecret is empty"},
		{"grace shorter than drain and shutdown", []string{"--set", "terminationGracePeriodSeconds=15"}, "must exceed drainDelaySeconds + shutdownTimeoutSeconds (15)"},
		{"a secret in settings", []string{"--set", "settings.database_url=postgres://u:p@h/db"}, "settings.database_url"},
		{"client CA without TLS", []string{"--set", "tls.clientCA=true"}, "tls.clientCA needs tls.secretName"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := renderChart(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if _, helmSays, _ := strings.Cut(err.Error(), "exit status"); strings.Contains(helmSays, "u:p@") {
				t.Errorf("the error repeats the secret: %v", err)
			}
		})
	}
}

// TestKubernetesExample checks deploy/kubernetes: a Deployment of 3 whose
// pod passes the chart's checks with the chart's very probes and security
// context, a Service, a PodDisruptionBudget, PostgreSQL and Redis as
// ExternalName Services, and a kustomization listing every file.
func TestKubernetesExample(t *testing.T) {
	files := readObjects(t, "deploy/kubernetes")
	var all []object
	for _, objs := range files {
		all = append(all, objs...)
	}
	k := byKind(all)
	if len(k["Deployment"]) != 1 {
		t.Fatalf("%d Deployments", len(k["Deployment"]))
	}
	d := k["Deployment"][0]
	if n := toInt(get(d, "spec", "replicas")); n != 3 {
		t.Errorf("replicas %d, want 3", n)
	}
	spec, _ := asMap(get(d, "spec", "template", "spec"))
	for _, e := range checkPod(spec, podWant{redis: true}) {
		t.Error(e)
	}

	chart, err := renderChart(t, "--set", "replicaCount=3")
	if err != nil {
		t.Fatal(err)
	}
	cd := byKind(chart)["Deployment"][0]
	cc, _ := asMap(list(cd, "spec", "template", "spec", "containers")[0])
	ec, _ := asMap(list(spec, "containers")[0])
	if !sameProbes(cc, ec) {
		t.Errorf("probes differ from the chart's:\nexample %v %v %v\nchart   %v %v %v",
			ec["startupProbe"], ec["livenessProbe"], ec["readinessProbe"], cc["startupProbe"], cc["livenessProbe"], cc["readinessProbe"])
	}
	var chartEnv, exampleEnv []string
	for _, e := range list(cc, "env") {
		chartEnv = append(chartEnv, str(e, "name"))
	}
	for _, e := range list(ec, "env") {
		exampleEnv = append(exampleEnv, str(e, "name"))
		if !slices.Contains(chartEnv, str(e, "name")) {
			t.Errorf("the example sets %s, the chart does not", str(e, "name"))
		}
	}
	for _, name := range []string{"SERVICECENTERD_DRAIN_DELAY", "SERVICECENTERD_GRPC_MAX_CONNECTION_AGE"} {
		if !slices.Contains(exampleEnv, name) {
			t.Errorf("the example does not set %s", name)
		}
	}
	if !reflect.DeepEqual(get(cc, "securityContext"), get(ec, "securityContext")) {
		t.Errorf("container securityContext %v, the chart's %v", get(ec, "securityContext"), get(cc, "securityContext"))
	}

	if len(k["PodDisruptionBudget"]) != 1 || toInt(get(k["PodDisruptionBudget"][0], "spec", "minAvailable")) != 2 {
		t.Errorf("PodDisruptionBudgets %v: want one with minAvailable 2", k["PodDisruptionBudget"])
	}
	external := map[string]string{}
	for _, s := range k["Service"] {
		if str(s, "spec", "type") == "ExternalName" {
			external[s.name()] = str(s, "spec", "externalName")
		}
	}
	if external["postgres"] == "" || external["redis"] == "" {
		t.Errorf("ExternalName Services %v: want postgres and redis", external)
	}
	kust := k["Kustomization"]
	if len(kust) != 1 {
		t.Fatalf("%d Kustomizations", len(kust))
	}
	var resources []string
	for _, r := range list(kust[0], "resources") {
		resources = append(resources, r.(string))
	}
	for f := range files {
		if f != "kustomization.yaml" && !slices.Contains(resources, f) {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
}

// TestDockerfile checks that the image runs as the user the manifests
// expect and exposes the listeners' ports.
func TestDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var user, expose string
	var stages int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "FROM":
			stages++
			user = "" // USER applies to its stage
		case "USER":
			user = fields[1]
		case "EXPOSE":
			expose = strings.Join(fields[1:], " ")
		}
	}
	if stages < 2 {
		t.Errorf("%d stages: want a build stage and a runtime stage", stages)
	}
	objs, err := renderChart(t)
	if err != nil {
		t.Fatal(err)
	}
	spec := get(byKind(objs)["Deployment"][0], "spec", "template", "spec", "securityContext")
	uid, gid := toInt(get(spec, "runAsUser")), toInt(get(spec, "runAsGroup"))
	if want := strconv.Itoa(uid) + ":" + strconv.Itoa(gid); user != want || uid == 0 {
		t.Errorf("the runtime stage's USER %q, the chart runs as %s", user, want)
	}
	if expose != "9090 8080" {
		t.Errorf("EXPOSE %q, want 9090 8080", expose)
	}
}

// TestDocsValuesExamples renders the chart with each values example of
// README.md and docs/deployment.md (a ```yaml block that sets replicaCount)
// and checks that it asks for what it says: the replicas and the image.
func TestDocsValuesExamples(t *testing.T) {
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	found := 0
	for _, page := range []string{"README.md", "docs/deployment.md"} {
		md, err := os.ReadFile(filepath.Join(repoRoot, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(md), -1) {
			if !strings.Contains(m[1], "replicaCount:") {
				continue
			}
			found++
			var values struct {
				ReplicaCount int `yaml:"replicaCount"`
				Image        struct {
					Repository string `yaml:"repository"`
					Tag        string `yaml:"tag"`
				} `yaml:"image"`
			}
			if err := yaml.Unmarshal([]byte(m[1]), &values); err != nil {
				t.Fatalf("%s: values example: %v", page, err)
			}
			file := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(file, []byte(m[1]), 0o600); err != nil {
				t.Fatal(err)
			}
			abs, err := filepath.Abs(file)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := renderChart(t, "-f", abs)
			if err != nil {
				t.Fatalf("%s: %v", page, err)
			}
			d := byKind(objs)["Deployment"]
			if len(d) != 1 || toInt(get(d[0], "spec", "replicas")) != values.ReplicaCount {
				t.Errorf("%s: the values example renders %d Deployments, want one of %d replicas", page, len(d), values.ReplicaCount)
				continue
			}
			c, _ := asMap(list(d[0], "spec", "template", "spec", "containers")[0])
			if want := values.Image.Repository + ":" + values.Image.Tag; str(c, "image") != want {
				t.Errorf("%s: image %q, want %q", page, str(c, "image"), want)
			}
			spec, _ := asMap(get(d[0], "spec", "template", "spec"))
			for _, e := range checkPod(spec, podWant{redis: true}) {
				t.Errorf("%s: %s", page, e)
			}
			yamlKeys := map[string]bool{}
			for _, s := range serveSettings() {
				yamlKeys[s.Key] = true
			}
			for _, cm := range byKind(objs)["ConfigMap"] {
				var file map[string]any
				if err := yaml.Unmarshal([]byte(str(cm, "data", "config.yaml")), &file); err != nil {
					t.Fatalf("%s: settings: %v", page, err)
				}
				for key := range file {
					if !yamlKeys[key] {
						t.Errorf("%s: settings key %s is no setting", page, key)
					}
				}
			}
		}
	}
	if found < 2 {
		t.Errorf("%d values examples found in README.md and docs/deployment.md, want 2", found)
	}
}

// TestChartMonitoring renders the chart's ServiceMonitor, PrometheusRule
// and dashboard ConfigMap and checks that the rules and the dashboard are
// deploy/'s files, unchanged, and that the ServiceMonitor scrapes /metrics
// of one Service only (not the headless one too: every sample twice).
func TestChartMonitoring(t *testing.T) {
	// The chart's files/ holds copies (helm reads no file outside the
	// chart, and warns at every run about links): they must be the same.
	for copy, orig := range map[string]string{"files/alerts.yaml": alertsFile, "files/dashboard.json": dashboardFile} {
		a, err := os.ReadFile(filepath.Join(repoRoot, chartDir, copy))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, orig))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s/%s differs from %s: cp %s %s/%s", chartDir, copy, orig, orig, chartDir, copy)
		}
	}

	objs, err := renderChart(t, "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	k := byKind(objs)
	if len(k["ServiceMonitor"]) != 1 || len(k["PrometheusRule"]) != 1 || len(k["ConfigMap"]) != 1 {
		t.Fatalf("ServiceMonitors %d, PrometheusRules %d, ConfigMaps %d: want one each",
			len(k["ServiceMonitor"]), len(k["PrometheusRule"]), len(k["ConfigMap"]))
	}

	var alerts map[string]any
	raw, err := os.ReadFile(filepath.Join(repoRoot, alertsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &alerts); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(get(k["PrometheusRule"][0], "spec", "groups"), alerts["groups"]) {
		t.Errorf("the PrometheusRule's groups differ from %s", alertsFile)
	}

	dash, err := os.ReadFile(filepath.Join(repoRoot, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	cm := k["ConfigMap"][0]
	if got := str(cm, "data", "servicecenterd.json"); strings.TrimSpace(got) != strings.TrimSpace(string(dash)) {
		t.Errorf("the dashboard ConfigMap differs from %s", dashboardFile)
	}
	if str(cm, "metadata", "labels", "grafana_dashboard") != "1" {
		t.Errorf("dashboard ConfigMap labels %v: want grafana_dashboard=1", get(cm, "metadata", "labels"))
	}

	sm := k["ServiceMonitor"][0]
	ep := list(sm, "spec", "endpoints")
	if len(ep) != 1 || str(ep[0], "port") != "http" || str(ep[0], "path") != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %v: want port http, path /metrics", ep)
	}
	matched := 0
	for _, svc := range k["Service"] {
		if selects(get(sm, "spec", "selector"), get(svc, "metadata", "labels")) {
			matched++
		}
	}
	if matched != 1 {
		t.Errorf("the ServiceMonitor selects %d Services, want 1", matched)
	}
}

// selects reports whether a label selector (matchLabels, and
// matchExpressions with Exists and DoesNotExist) matches labels.
func selects(selector, labels any) bool {
	l, _ := asMap(labels)
	ml, _ := asMap(get(selector, "matchLabels"))
	for key, v := range ml {
		if l[key] != v {
			return false
		}
	}
	for _, e := range list(selector, "matchExpressions") {
		_, has := l[str(e, "key")]
		switch str(e, "operator") {
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}
