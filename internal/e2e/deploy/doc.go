// Package deploy tests what deploy/ ships against the real server: the Helm
// chart rendered by the pinned helm (helm.tools.mod) in both modes and
// with N replicas, the plain Kubernetes example, the Dockerfile's user and
// ports, and the Grafana dashboard's and Prometheus alerts' queries, whose
// every metric must be one that servicecenterd serves after a known run.
//
// The chart is rendered by the pinned helm (`go tool -modfile=helm.tools.mod
// helm`, whose built binary `go tool -n` names) in a subprocess, not
// through helm's Go packages: helm (with Kubernetes' client libraries) then
// stays out of go.mod, like buf.
package deploy
