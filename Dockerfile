# syntax=docker/dockerfile:1
# servicecenterd's container image: a static binary (no cgo: SQLite is
# modernc's pure Go port) on distroless static, running as the distroless
# "nonroot" user (65532). The Helm chart (deploy/helm/servicecenterd) and the
# Kubernetes example (deploy/kubernetes) run it with a read-only root file
# system; the embedded mode's --data-dir is a volume.
#
#   docker build -t servicecenterd:dev --build-arg VERSION=$(git describe --always --dirty) .

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/servicecenterd/servicecenterd/internal/buildinfo.version=${VERSION}" \
      -o /out/servicecenterd ./cmd/servicecenterd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/servicecenterd /usr/local/bin/servicecenterd
USER 65532:65532
# gRPC and HTTP (REST gateway, /healthz, /readyz, /metrics). The defaults
# listen on loopback only: the chart sets SERVICECENTERD_GRPC_ADDR=:9090 and
# SERVICECENTERD_HTTP_ADDR=:8080 with caller authentication.
EXPOSE 9090 8080
ENTRYPOINT ["/usr/local/bin/servicecenterd"]
CMD ["serve"]
