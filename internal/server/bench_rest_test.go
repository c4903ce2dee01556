package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// BenchmarkRESTvsGRPC measures one GetWorkerTags call, one caller at a
// time, over gRPC and over REST, against the same server and its
// embedded emulator (whose work is in both): the difference per call is
// what the REST path adds (HTTP/1.1, JSON, the gateway and its hop to
// the gRPC chain). cpu-ns/op is the process's CPU time (user and
// system, client and emulator included) per call, steadier than ns/op on
// a shared machine.
func BenchmarkRESTvsGRPC(b *testing.B) {
	ts := testserver.Start(b, nil)
	req := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
	b.Run("grpc", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		cpu := cpuTime(b)
		for b.Loop() {
			if _, err := ts.Workers.GetWorkerTags(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	b.Run("rest", func(b *testing.B) {
		url := "http://" + ts.HTTPAddr() + "/v1/workers:getTags"
		body := `{"id_number":"11010519491231002X","mobile":"13245678901"}`
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer client.CloseIdleConnections()
		b.ReportAllocs()
		cpu := cpuTime(b)
		for b.Loop() {
			resp, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		reportCPU(b, cpu)
	})
}

// cpuTime is the process's CPU time so far (user and system).
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time since start per call (cpu-ns/op).
func reportCPU(b *testing.B, start time.Duration) {
	b.Helper()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}
