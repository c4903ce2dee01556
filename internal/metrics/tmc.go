package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecenterd/servicecenterd/internal/tmc"
)

// TMCMetrics is the TMC client's tmc.Metrics: the servicecenterd_tmc_*
// series of the connection and of the messages it delivers. Topic labels
// are the channel's topic names, a set fixed by the app's subscriptions.
type TMCMetrics struct {
	state       *prometheus.GaugeVec
	connects    prometheus.Counter
	disconnects *prometheus.CounterVec
	received    *prometheus.CounterVec
	handled     *prometheus.CounterVec
	handlerTime *prometheus.HistogramVec
	lag         prometheus.Histogram
}

var _ tmc.Metrics = (*TMCMetrics)(nil)

// NewTMCMetrics registers the TMC client's series with reg (Registerer of
// the server's Metrics).
func NewTMCMetrics(reg prometheus.Registerer) (*TMCMetrics, error) {
	t := &TMCMetrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "tmc_connection_state",
			Help: "The TMC client's connection state: 1 for the current state (idle, connecting, connected, backoff), 0 for the others.",
		}, []string{"state"}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tmc_connects_total",
			Help: "TMC connections that completed the handshake.",
		}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tmc_disconnects_total",
			Help: "TMC connection attempts and connections that ended, by reason (dial, handshake, rejected, closed, error, stopped).",
		}, []string{"reason"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tmc_messages_received_total",
			Help: "TMC data messages received (redeliveries and duplicates included), by topic.",
		}, []string{"topic"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tmc_messages_handled_total",
			Help: "TMC data messages by topic and outcome: confirmed (stored, then confirmed), failed (reported failed; the channel redelivers), filtered (outside the topic filter, confirmed), undeliverable (the connection ended first; the channel redelivers).",
		}, []string{"topic", "outcome"}),
		handlerTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "tmc_handler_seconds",
			Help:    "Time the consumer took to store a TMC message, by outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"outcome"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "tmc_message_lag_seconds",
			Help:    "Time from a TMC message's publication to its arrival here.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}),
	}
	for _, c := range []prometheus.Collector{t.state, t.connects, t.disconnects, t.received, t.handled, t.handlerTime, t.lag} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register TMC metrics: %w", err)
		}
	}
	for _, s := range tmc.States {
		t.state.WithLabelValues(s.String())
	}
	t.state.WithLabelValues(tmc.StateIdle.String()).Set(1)
	for _, r := range []string{tmc.ReasonDial, tmc.ReasonHandshake, tmc.ReasonRejected, tmc.ReasonClosed, tmc.ReasonError, tmc.ReasonStopped} {
		t.disconnects.WithLabelValues(r)
	}
	return t, nil
}

// StateChanged implements tmc.Metrics. The client reports its changes from
// one goroutine, in order.
func (t *TMCMetrics) StateChanged(s tmc.State) {
	for _, st := range tmc.States {
		v := 0.0
		if st == s {
			v = 1
		}
		t.state.WithLabelValues(st.String()).Set(v)
	}
}

// Connected implements tmc.Metrics.
func (t *TMCMetrics) Connected() { t.connects.Inc() }

// Disconnected implements tmc.Metrics.
func (t *TMCMetrics) Disconnected(reason string) { t.disconnects.WithLabelValues(reason).Inc() }

// Received implements tmc.Metrics.
func (t *TMCMetrics) Received(topic string, lag time.Duration) {
	t.received.WithLabelValues(topic).Inc()
	if lag > 0 {
		t.lag.Observe(lag.Seconds())
	}
}

// Handled implements tmc.Metrics.
func (t *TMCMetrics) Handled(topic string, o tmc.Outcome, d time.Duration) {
	t.handled.WithLabelValues(topic, string(o)).Inc()
	t.handlerTime.WithLabelValues(string(o)).Observe(d.Seconds())
}
