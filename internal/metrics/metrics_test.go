package metrics

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// series returns "name{k=v,...} value" for every sample, in the order
// gathered.
func series(t *testing.T, m *Metrics, prefix string) map[string]float64 {
	t.Helper()
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), prefix) {
			continue
		}
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = value(f.GetType(), s)
		}
	}
	return out
}

func value(typ dto.MetricType, s *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return s.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return s.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(s.GetHistogram().GetSampleCount())
	}
	return -1
}

func TestObserveTOP(t *testing.T) {
	m := New(slog.New(slog.DiscardHandler))
	for _, ci := range []topclient.CallInfo{
		{Method: top.MethodWorkerTagList, Outcome: topclient.OutcomeOK, Attempts: 1, Duration: time.Millisecond},
		{Method: top.MethodWorkerTagList, Outcome: topclient.OutcomeAPIError, Attempts: 3, Duration: time.Second, RequestID: "abc", SubCode: "isp.x"},
		{Method: top.MethodAssignWorker, Outcome: topclient.OutcomeBanned, Attempts: 1, Code: 7},
		{Method: top.MethodAssignWorker, Outcome: topclient.OutcomeBanned, Attempts: 0, Code: 7},
		{Method: top.MethodAssignWorker, Outcome: topclient.OutcomeOK, Attempts: 1, QuotaWait: 50 * time.Millisecond},
		{Method: "taobao.some.other 13812345678", Outcome: topclient.OutcomeOK, Attempts: 1},
	} {
		m.ObserveTOP(ci)
	}
	got := series(t, m, "servicecenterd_top_")
	want := map[string]float64{
		"servicecenterd_top_calls_total{method=tmall.servicecenter.worker.taglist.get,outcome=ok}":                  1,
		"servicecenterd_top_calls_total{method=tmall.servicecenter.worker.taglist.get,outcome=api_error}":           1,
		"servicecenterd_top_calls_total{method=tmall.servicecenter.workcard.assignworker,outcome=banned}":           2,
		"servicecenterd_top_calls_total{method=other,outcome=ok}":                                                   1,
		"servicecenterd_top_call_duration_seconds{method=tmall.servicecenter.worker.taglist.get,outcome=api_error}": 1,
		"servicecenterd_top_retries_total{method=tmall.servicecenter.worker.taglist.get}":                           2,
		"servicecenterd_top_retries_total{method=tmall.servicecenter.workcard.assignworker}":                        0,
		"servicecenterd_top_bans_total{method=tmall.servicecenter.workcard.assignworker}":                           1,
		"servicecenterd_top_quota_wait_seconds{method=tmall.servicecenter.workcard.assignworker}":                   1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if strings.Contains(k, "13812345678") || strings.Contains(k, "abc") || strings.Contains(k, "isp.x") {
			t.Errorf("label from call data: %s", k)
		}
	}
}

func TestRateLimitedAuditAndBuildInfo(t *testing.T) {
	m := New(slog.New(slog.DiscardHandler))
	m.RateLimited("billing")
	m.RateLimited("billing")
	got := series(t, m, "servicecenterd_")
	if got["servicecenterd_rate_limited_total{client=billing}"] != 2 {
		t.Errorf("rate limited: %v", got)
	}
	var build bool
	for k, v := range got {
		build = build || strings.HasPrefix(k, "servicecenterd_build_info{") && v == 1
	}
	if !build {
		t.Error("no build info")
	}
	for _, name := range []string{"servicecenterd_audit_write_failures_total{}", "servicecenterd_audit_events_pruned_total{}"} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v) before any event, want 0", name, v, ok)
		}
	}
	if _, ok := got["servicecenterd_sync_jobs_scrape_errors{}"]; ok {
		t.Error("sync job series before a source is set")
	}
	m.AuditWriteFailed()
	m.AuditPruned(1000)
	m.AuditPruned(7)
	got = series(t, m, "servicecenterd_audit_")
	if got["servicecenterd_audit_write_failures_total{}"] != 1 || got["servicecenterd_audit_events_pruned_total{}"] != 1007 {
		t.Errorf("audit counters: %v", got)
	}
}
