package metrics

import (
	"log/slog"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/tmc"
)

func TestTMCMetrics(t *testing.T) {
	m := New(slog.New(slog.DiscardHandler))
	tm, err := NewTMCMetrics(m.Registerer())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTMCMetrics(m.Registerer()); err == nil {
		t.Error("registering the TMC series twice did not fail")
	}
	before := series(t, m, "servicecenterd_tmc_")
	for _, want := range []string{
		"servicecenterd_tmc_connection_state{state=idle}", "servicecenterd_tmc_connection_state{state=connected}",
		"servicecenterd_tmc_disconnects_total{reason=rejected}", "servicecenterd_tmc_connects_total{}",
	} {
		if _, ok := before[want]; !ok {
			t.Errorf("series %s missing before any event: %v", want, before)
		}
	}
	tm.StateChanged(tmc.StateConnecting)
	tm.StateChanged(tmc.StateConnected)
	tm.Connected()
	tm.Received("tmall_fuwu_WorkcardInfo", 2*time.Second)
	tm.Received("tmall_fuwu_WorkcardInfo", 0)
	tm.Handled("tmall_fuwu_WorkcardInfo", tmc.OutcomeConfirmed, time.Millisecond)
	tm.Handled("tmall_fuwu_WorkcardInfo", tmc.OutcomeFailed, time.Millisecond)
	tm.Disconnected(tmc.ReasonClosed)
	got := series(t, m, "servicecenterd_tmc_")
	want := map[string]float64{
		"servicecenterd_tmc_connection_state{state=connected}":                                       1,
		"servicecenterd_tmc_connection_state{state=idle}":                                            0,
		"servicecenterd_tmc_connection_state{state=connecting}":                                      0,
		"servicecenterd_tmc_connects_total{}":                                                        1,
		"servicecenterd_tmc_disconnects_total{reason=closed}":                                        1,
		"servicecenterd_tmc_disconnects_total{reason=dial}":                                          0,
		"servicecenterd_tmc_messages_received_total{topic=tmall_fuwu_WorkcardInfo}":                  2,
		"servicecenterd_tmc_messages_handled_total{outcome=confirmed,topic=tmall_fuwu_WorkcardInfo}": 1,
		"servicecenterd_tmc_messages_handled_total{outcome=failed,topic=tmall_fuwu_WorkcardInfo}":    1,
		"servicecenterd_tmc_message_lag_seconds{}":                                                   1,
		"servicecenterd_tmc_handler_seconds{outcome=confirmed}":                                      1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
