package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/bench/report"
)

// snapshot reads a servicecenterd's footprint: its goroutines from the
// go_goroutines gauge of its /metrics (open by default, on httpAddr), its
// threads, RSS and peak RSS from /proc/PID/status. The /metrics scrape is
// one small request outside any measured window.
func snapshot(ctx context.Context, pid int, httpAddr string) (report.Snapshot, error) {
	var s report.Snapshot
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("footprint: %w", err)
	}
	kib := func(key string) float64 {
		v, _ := strconv.ParseFloat(strings.TrimSuffix(procField(status, key), " kB"), 64)
		return v / 1024
	}
	s.RSSMiB, s.PeakRSSMiB = kib("VmRSS"), kib("VmHWM")
	s.Threads, _ = strconv.Atoi(procField(status, "Threads"))

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return s, err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return s, fmt.Errorf("footprint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return s, fmt.Errorf("footprint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("footprint: /metrics answered HTTP %d", resp.StatusCode)
	}
	n, ok := metricValue(body, "go_goroutines")
	if !ok {
		return s, fmt.Errorf("footprint: no go_goroutines in /metrics")
	}
	s.Goroutines = int(n)
	return s, nil
}

// metricValue returns the value of an unlabelled metric in the
// Prometheus text format.
func metricValue(text []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// readLoadAvg returns the 1, 5 and 15 minute load averages of
// /proc/loadavg (zeros when it cannot be read).
func readLoadAvg() [3]float64 {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	for i, f := range strings.Fields(string(b)) {
		if i >= 3 {
			break
		}
		out[i], _ = strconv.ParseFloat(f, 64)
	}
	return out
}
