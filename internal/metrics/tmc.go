package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servicecenterd/servicecenterd/internal/tmc"
)

// OtherTopic is the topic label of a TMC topic outside the known set.
const OtherTopic = "other"

// TMC holds the series of the TMC consumer (servicecenterd_tmc_*, as the
// internal/tmc client reports them) and of the event log
// (servicecenterd_events_*): it implements tmc.Metrics and
// events.Metrics. Topic labels are the known topics (the typed ones and
// --tmc-topics), any other "other", so that a channel sending odd topics
// cannot grow the series without bound.
type TMC struct {
	known map[string]bool

	state        *prometheus.GaugeVec
	connects     prometheus.Counter
	disconnects  *prometheus.CounterVec
	received     *prometheus.CounterVec
	handled      *prometheus.CounterVec
	handleSecs   prometheus.Histogram
	lag          prometheus.Histogram
	stored       *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	storeFailed  *prometheus.CounterVec
	eventsPruned prometheus.Counter
}

// NewTMC registers the TMC and event log series on reg; known are the
// topics that get a label of their own.
func NewTMC(reg prometheus.Registerer, known []string) *TMC {
	t := &TMC{known: map[string]bool{}}
	for _, k := range known {
		t.known[k] = true
	}
	t.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "tmc", Name: "connection_state",
		Help: "1 for the TMC client's current connection state (idle, connecting, connected, backoff), 0 for the others.",
	}, []string{"state"})
	t.connects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "tmc", Name: "connects_total",
		Help: "TMC connections that completed the handshake.",
	})
	t.disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "tmc", Name: "disconnects_total",
		Help: "TMC connections (or attempts) that ended, by reason: dial, handshake, rejected, closed, error, stopped.",
	}, []string{"reason"})
	t.received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "tmc", Name: "messages_received_total",
		Help: "TMC data messages received, redeliveries included, by topic.",
	}, []string{"topic"})
	t.handled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "tmc", Name: "messages_handled_total",
		Help: "TMC data messages by outcome: confirmed (stored, then confirmed), failed (not stored, reported failed: redelivered later), filtered (outside --tmc-topics), undeliverable (the connection ended first: redelivered).",
	}, []string{"topic", "outcome"})
	t.handleSecs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "tmc", Name: "store_seconds",
		Help:    "Time to store one TMC message durably before its confirm.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	t.lag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "tmc", Name: "lag_seconds",
		Help:    "Time from a TMC message's publish time to its receipt by servicecenterd.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400},
	})
	t.stored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "events", Name: "stored_total",
		Help: "TMC messages stored in the event log for the first time, by topic.",
	}, []string{"topic"})
	t.duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "events", Name: "duplicates_total",
		Help: "TMC messages received again after they were stored (a redelivery, or stored by another replica), by topic.",
	}, []string{"topic"})
	t.storeFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "events", Name: "store_failures_total",
		Help: "TMC messages the event log could not store (reported failed to TMC, which redelivers them), by topic.",
	}, []string{"topic"})
	t.eventsPruned = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "events", Name: "pruned_total",
		Help: "Events deleted by --event-retention.",
	})
	reg.MustRegister(t.state, t.connects, t.disconnects, t.received, t.handled, t.handleSecs, t.lag,
		t.stored, t.duplicates, t.storeFailed, t.eventsPruned)
	t.StateChanged(tmc.StateIdle)
	return t
}

func (t *TMC) topic(s string) string {
	if t.known[s] {
		return s
	}
	return OtherTopic
}

// StateChanged implements tmc.Metrics.
func (t *TMC) StateChanged(s tmc.State) {
	for _, st := range tmc.States {
		v := 0.0
		if st == s {
			v = 1
		}
		t.state.WithLabelValues(st.String()).Set(v)
	}
}

// Connected implements tmc.Metrics.
func (t *TMC) Connected() { t.connects.Inc() }

// Disconnected implements tmc.Metrics.
func (t *TMC) Disconnected(reason string) { t.disconnects.WithLabelValues(reason).Inc() }

// Received implements tmc.Metrics.
func (t *TMC) Received(topic string, lag time.Duration) {
	t.received.WithLabelValues(t.topic(topic)).Inc()
	if lag > 0 {
		t.lag.Observe(lag.Seconds())
	}
}

// Handled implements tmc.Metrics.
func (t *TMC) Handled(topic string, o tmc.Outcome, d time.Duration) {
	t.handled.WithLabelValues(t.topic(topic), string(o)).Inc()
	if o == tmc.OutcomeConfirmed || o == tmc.OutcomeFailed {
		t.handleSecs.Observe(d.Seconds())
	}
}

// Stored implements events.Metrics.
func (t *TMC) Stored(topic string) { t.stored.WithLabelValues(t.topic(topic)).Inc() }

// Duplicate implements events.Metrics.
func (t *TMC) Duplicate(topic string) { t.duplicates.WithLabelValues(t.topic(topic)).Inc() }

// StoreFailed implements events.Metrics.
func (t *TMC) StoreFailed(topic string) { t.storeFailed.WithLabelValues(t.topic(topic)).Inc() }

// Pruned implements events.Metrics.
func (t *TMC) Pruned(n int) { t.eventsPruned.Add(float64(n)) }
