package topemu

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Defaults of the TMC settings.
const (
	// DefaultTMCRedeliveryTimeout is how long a delivered message may stay
	// unconfirmed before the emulator delivers it again.
	DefaultTMCRedeliveryTimeout = time.Minute
	// DefaultTMCRetryDelay is how long a message reported failed waits
	// before its redelivery.
	DefaultTMCRetryDelay = 5 * time.Second
	// DefaultTMCWindow is how many unconfirmed messages one connection
	// may hold.
	DefaultTMCWindow = 10000
	// DefaultTMCPingInterval is how often the emulator pings each TMC
	// connection; one that does not answer within it is dropped.
	DefaultTMCPingInterval = 30 * time.Second
	// DefaultTMCGroup is the group of a message published without one.
	DefaultTMCGroup = "default"
	// maxTMCConfirmedRecords bounds the confirmed messages kept for
	// GET /_emulator/tmc/messages.
	maxTMCConfirmedRecords = 10000
)

// TMCSettings are the TMC endpoint's delivery settings (PUT
// /_emulator/tmc/settings).
type TMCSettings struct {
	// RedeliveryTimeout: a delivered message not confirmed within it is
	// delivered again (retried + 1).
	RedeliveryTimeout Duration `json:"redelivery_timeout"`
	// RetryDelay: a message reported failed is delivered again after it.
	RetryDelay Duration `json:"retry_delay"`
	// Window is how many unconfirmed messages one connection may hold.
	Window int `json:"window"`
	// PingInterval is how often each connection is pinged; a connection
	// that does not answer within it is dropped (what it held is
	// redelivered). 0 sends no pings.
	PingInterval Duration `json:"ping_interval"`
}

func (s TMCSettings) validate() error {
	switch {
	case s.RedeliveryTimeout <= 0:
		return errors.New("redelivery_timeout must be positive")
	case s.RetryDelay < 0:
		return errors.New("retry_delay must not be negative")
	case s.Window <= 0:
		return errors.New("window must be positive")
	case s.PingInterval < 0:
		return errors.New("ping_interval must not be negative")
	}
	return nil
}

// TMCFaults are the TMC endpoint's faults (PUT /_emulator/tmc/faults).
type TMCFaults struct {
	// Delay holds every message published while it is set back by this
	// long before its first delivery.
	Delay Duration `json:"delay,omitempty"`
	// Duplicate sends every delivery twice (the same id, one after the
	// other).
	Duplicate bool `json:"duplicate,omitempty"`
	// DropAfter closes the connection, with no close handshake, right after
	// it has sent this many more data messages (over all connections);
	// then the fault clears itself. 0 is off.
	DropAfter int `json:"drop_after,omitempty"`
	// RejectConnect answers every CONNECT with an error.
	RejectConnect bool `json:"reject_connect,omitempty"`
}

func (f TMCFaults) validate() error {
	if f.Delay < 0 || f.DropAfter < 0 {
		return errors.New("delay and drop_after must not be negative")
	}
	return nil
}

// TMCMessage is a message to publish on the emulator's channel.
type TMCMessage struct {
	// Topic is the topic, e.g. tmall_fuwu_WorkcardInfo (required).
	Topic string `json:"topic"`
	// Content is the payload, normally a JSON object as text.
	Content string `json:"content"`
	// Group is the consumer group it goes to; "" is "default".
	Group string `json:"group,omitempty"`
	// UserID is the seller's id (`userid`).
	UserID int64 `json:"user_id,omitempty"`
	// UserNick is the seller's nick (`nick`).
	UserNick string `json:"user_nick,omitempty"`
	// Publisher is the publishing app key (`publisher`); "" is "4272",
	// the app key Tmall's messages carry.
	Publisher string `json:"publisher,omitempty"`
	// DataID is the business data id (`dataid`); 0 is none.
	DataID int64 `json:"data_id,omitempty"`
}

// The states of a TMC message record.
const (
	TMCQueued    = "queued"
	TMCInFlight  = "in_flight"
	TMCConfirmed = "confirmed"
)

// TMCMessageRecord is what the emulator knows about one published message.
type TMCMessageRecord struct {
	ID        int64     `json:"id"`
	Group     string    `json:"group"`
	Topic     string    `json:"topic"`
	Content   string    `json:"content"`
	UserID    int64     `json:"user_id,omitempty"`
	UserNick  string    `json:"user_nick,omitempty"`
	Publisher string    `json:"publisher"`
	DataID    int64     `json:"data_id,omitempty"`
	Published time.Time `json:"published_at"`
	// State is queued, in_flight or confirmed.
	State string `json:"state"`
	// Retried is the redelivery counter the next (or last) delivery carries.
	Retried int `json:"retried"`
	// Deliveries counts data frames sent for it (a duplicate fault counts 2).
	Deliveries int `json:"deliveries"`
	// Failures counts the failure reports received for it.
	Failures int `json:"failures"`
	// LastFailure is the reason of the last failure report.
	LastFailure string `json:"last_failure,omitempty"`
	// Connection is the connection holding it while in flight.
	Connection int64     `json:"connection,omitempty"`
	Confirmed  time.Time `json:"confirmed_at,omitzero"`
}

// TMCCounters count the endpoint's traffic since start or reset.
type TMCCounters struct {
	Published        int64 `json:"published"`
	Delivered        int64 `json:"delivered"`
	Redelivered      int64 `json:"redelivered"`
	DuplicatesSent   int64 `json:"duplicates_sent"`
	Confirmed        int64 `json:"confirmed"`
	Failed           int64 `json:"failed"`
	UnknownConfirms  int64 `json:"unknown_confirms"`
	Pulls            int64 `json:"pulls"`
	Connects         int64 `json:"connects"`
	ConnectsRejected int64 `json:"connects_rejected"`
	Drops            int64 `json:"drops"`
	// PingTimeouts counts connections dropped for not answering a ping.
	PingTimeouts int64 `json:"ping_timeouts"`
}

// TMCConnection describes one open TMC connection.
type TMCConnection struct {
	ID          int64     `json:"id"`
	Group       string    `json:"group"`
	Remote      string    `json:"remote"`
	SDK         string    `json:"sdk,omitempty"`
	ConnectedAt time.Time `json:"connected_at"`
	InFlight    int       `json:"in_flight"`
	Delivered   int64     `json:"delivered"`
	Confirmed   int64     `json:"confirmed"`
	Failed      int64     `json:"failed"`
	Pulls       int64     `json:"pulls"`
	// Pings counts the client's pings; ServerPings the emulator's pings
	// it answered.
	Pings       int64 `json:"pings"`
	ServerPings int64 `json:"server_pings"`
}

// TMCGroupStatus describes one consumer group.
type TMCGroupStatus struct {
	Name        string          `json:"name"`
	Queued      int             `json:"queued"`
	InFlight    int             `json:"in_flight"`
	Connections []TMCConnection `json:"connections"`
}

// TMCStatus is the answer of GET /_emulator/tmc.
type TMCStatus struct {
	Endpoint string           `json:"endpoint"`
	Counters TMCCounters      `json:"counters"`
	Groups   []TMCGroupStatus `json:"groups"`
	Settings TMCSettings      `json:"settings"`
	Faults   TMCFaults        `json:"faults"`
}

// tmcMsg is a message that is not confirmed yet (or a confirmed record).
type tmcMsg struct {
	rec      TMCMessageRecord
	readyAt  time.Time // not delivered before
	conn     *tmcConn  // holder while in flight
	deadline time.Time // redelivery time while in flight
	due      int       // index in its group's due heap while in flight
}

type tmcGroup struct {
	name     string
	queue    []*tmcMsg // queued, by id
	inflight map[int64]*tmcMsg
	due      dueHeap // inflight again, the earliest redelivery deadline first
	conns    map[*tmcConn]bool
}

// dueHeap orders in-flight messages by redelivery deadline (container/heap),
// so that finding the ones due is O(log n) per message instead of a scan of
// every message in flight on each delivery: with a consumer slower than
// the publishers, a window of 10,000 in flight made each delivery scan
// 10,000 messages. Each message knows its index (tmcMsg.due), so a
// confirmed or requeued message leaves the heap at once.
type dueHeap []*tmcMsg

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].due, h[j].due = i, j
}

func (h *dueHeap) Push(x any) {
	m := x.(*tmcMsg)
	m.due = len(*h)
	*h = append(*h, m)
}

func (h *dueHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.due = -1
	return m
}

// tmcHub is the channel's state: groups, queues, unconfirmed messages and
// the records the admin API shows. It is kept in memory only. Delivery
// times (delays, redelivery) follow the wall clock; the times the messages
// and records carry follow the emulator's clock (Config.Now).
type tmcHub struct {
	now func() time.Time

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	groups    map[string]*tmcGroup
	pending   map[int64]*tmcMsg // queued or in flight
	confirmed []*tmcMsg         // ring of the latest confirmed
	nextID    int64
	connSeq   int64
	counters  TMCCounters
	settings  TMCSettings
	faults    TMCFaults
}

func newTMCHub(now func() time.Time, s TMCSettings) *tmcHub {
	return &tmcHub{
		now:     now,
		changed: make(chan struct{}),
		groups:  map[string]*tmcGroup{},
		pending: map[int64]*tmcMsg{},
		// Ids stay unique across restarts of the emulator (consumers
		// deduplicate by id): the start time in ms, times a million.
		nextID:   time.Now().UnixMilli() * 1_000_000,
		settings: s,
	}
}

// notifyLocked wakes every connection waiting for a change.
func (h *tmcHub) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *tmcHub) groupLocked(name string) *tmcGroup {
	g, ok := h.groups[name]
	if !ok {
		g = &tmcGroup{name: name, inflight: map[int64]*tmcMsg{}, conns: map[*tmcConn]bool{}}
		h.groups[name] = g
	}
	return g
}

// publish queues m for its group and returns its id.
func (h *tmcHub) publish(m TMCMessage) (int64, error) {
	if m.Topic == "" {
		return 0, errors.New("topic is required")
	}
	if m.Group == "" {
		m.Group = DefaultTMCGroup
	}
	if m.Publisher == "" {
		m.Publisher = "4272"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	msg := &tmcMsg{
		rec: TMCMessageRecord{
			ID: h.nextID, Group: m.Group, Topic: m.Topic, Content: m.Content,
			UserID: m.UserID, UserNick: m.UserNick, Publisher: m.Publisher, DataID: m.DataID,
			Published: h.now(), State: TMCQueued,
		},
		readyAt: time.Now().Add(time.Duration(h.faults.Delay)),
	}
	h.pending[msg.rec.ID] = msg
	g := h.groupLocked(m.Group)
	g.queue = append(g.queue, msg) // ids only grow: the queue stays sorted
	h.counters.Published++
	h.notifyLocked()
	return msg.rec.ID, nil
}

// requeueLocked puts an in-flight message back into its group's queue,
// to be delivered at readyAt with retried + 1.
func (h *tmcHub) requeueLocked(m *tmcMsg, readyAt time.Time) {
	g := h.groupLocked(m.rec.Group)
	delete(g.inflight, m.rec.ID)
	heap.Remove(&g.due, m.due)
	if m.conn != nil {
		m.conn.inflight--
	}
	m.conn, m.deadline = nil, time.Time{}
	m.rec.State, m.rec.Connection = TMCQueued, 0
	m.rec.Retried++
	m.readyAt = readyAt
	i, _ := slices.BinarySearchFunc(g.queue, m.rec.ID, func(a *tmcMsg, id int64) int { return cmp.Compare(a.rec.ID, id) })
	g.queue = slices.Insert(g.queue, i, m)
}

// errTMCStopped: the connection's context ended while waiting.
var errTMCStopped = errors.New("connection stopped")

// next waits for a message c may deliver (its group's oldest ready one,
// while c holds fewer than the window) and marks it in flight on c. dup
// says to send it twice; drop, to close the connection after sending.
func (h *tmcHub) next(done <-chan struct{}, c *tmcConn) (rec TMCMessageRecord, dup, drop bool, err error) {
	for {
		h.mu.Lock()
		now := time.Now()
		g := h.groupLocked(c.group)
		wake := time.Time{}
		// Messages whose holder did not confirm in time go back first.
		for len(g.due) > 0 && !now.Before(g.due[0].deadline) {
			h.requeueLocked(g.due[0], now)
			h.counters.Redelivered++
		}
		if len(g.due) > 0 {
			wake = g.due[0].deadline
		}
		if c.inflight < h.settings.Window {
			for i, m := range g.queue {
				if now.Before(m.readyAt) {
					if wake.IsZero() || m.readyAt.Before(wake) {
						wake = m.readyAt
					}
					continue
				}
				if i == 0 { // the usual case: no copying
					g.queue[0] = nil
					g.queue = g.queue[1:]
				} else {
					g.queue = slices.Delete(g.queue, i, i+1)
				}
				m.conn, m.deadline = c, now.Add(time.Duration(h.settings.RedeliveryTimeout))
				m.rec.State, m.rec.Connection = TMCInFlight, c.id
				g.inflight[m.rec.ID] = m
				heap.Push(&g.due, m)
				c.inflight++
				dup = h.faults.Duplicate
				m.rec.Deliveries++
				c.delivered++
				h.counters.Delivered++
				if dup {
					m.rec.Deliveries++
					h.counters.DuplicatesSent++
				}
				if h.faults.DropAfter > 0 {
					h.faults.DropAfter--
					drop = h.faults.DropAfter == 0
				}
				rec = m.rec
				h.mu.Unlock()
				return rec, dup, drop, nil
			}
		}
		changed := h.changed
		h.mu.Unlock()
		var timer *time.Timer
		var fired <-chan time.Time
		if !wake.IsZero() {
			timer = time.NewTimer(max(wake.Sub(now), time.Millisecond))
			fired = timer.C
		}
		select {
		case <-done:
			err = errTMCStopped
		case <-changed:
		case <-fired:
		}
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			return TMCMessageRecord{}, false, false, err
		}
	}
}

// confirm drops message id for good; a confirm for a message already
// reported failed counts too (the Java SDK's manual-confirm mode).
func (h *tmcHub) confirm(c *tmcConn, id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, ok := h.pending[id]
	if !ok || m.rec.Group != c.group {
		h.counters.UnknownConfirms++
		return
	}
	g := h.groupLocked(m.rec.Group)
	if m.rec.State == TMCInFlight {
		delete(g.inflight, id)
		heap.Remove(&g.due, m.due)
		if m.conn != nil {
			m.conn.inflight--
		}
	} else if i := slices.Index(g.queue, m); i >= 0 {
		g.queue = slices.Delete(g.queue, i, i+1)
	}
	delete(h.pending, id)
	m.conn, m.rec.Connection = nil, 0
	m.rec.State, m.rec.Confirmed = TMCConfirmed, h.now()
	if len(h.confirmed) >= maxTMCConfirmedRecords {
		h.confirmed = slices.Delete(h.confirmed, 0, len(h.confirmed)/2)
	}
	h.confirmed = append(h.confirmed, m)
	c.confirmed++
	h.counters.Confirmed++
	h.notifyLocked()
}

// fail schedules message id for redelivery after the retry delay.
func (h *tmcHub) fail(c *tmcConn, id int64, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, ok := h.pending[id]
	if !ok || m.rec.Group != c.group {
		return
	}
	m.rec.Failures++
	m.rec.LastFailure = reason
	c.failed++
	h.counters.Failed++
	if m.rec.State == TMCInFlight {
		h.requeueLocked(m, time.Now().Add(time.Duration(h.settings.RetryDelay)))
		h.counters.Redelivered++
		h.notifyLocked()
	}
}

// attach adds a connection to its group.
func (h *tmcHub) attach(c *tmcConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connSeq++
	c.id = h.connSeq
	h.groupLocked(c.group).conns[c] = true
	h.counters.Connects++
}

// detach removes a connection and requeues what it held unconfirmed.
func (h *tmcHub) detach(c *tmcConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groupLocked(c.group)
	delete(g.conns, c)
	now := time.Now()
	for _, m := range g.inflight {
		if m.conn == c {
			h.requeueLocked(m, now)
			h.counters.Redelivered++
		}
	}
	h.notifyLocked()
}

// connections returns the open connections.
func (h *tmcHub) connections() []*tmcConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*tmcConn
	for _, g := range h.groups {
		for c := range g.conns {
			out = append(out, c)
		}
	}
	return out
}

// pulled counts a pull request of c.
func (h *tmcHub) pulled(c *tmcConn) {
	h.mu.Lock()
	c.pulls++
	h.counters.Pulls++
	h.mu.Unlock()
}

// count changes the counters.
func (h *tmcHub) count(f func(*TMCCounters)) {
	h.mu.Lock()
	f(&h.counters)
	h.mu.Unlock()
}

func (h *tmcHub) setFaults(f TMCFaults) {
	h.mu.Lock()
	h.faults = f
	h.mu.Unlock()
}

func (h *tmcHub) getSettings() TMCSettings {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.settings
}

func (h *tmcHub) getFaults() TMCFaults {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.faults
}

func (h *tmcHub) setSettings(s TMCSettings) {
	h.mu.Lock()
	h.settings = s
	h.notifyLocked()
	h.mu.Unlock()
}

// reset forgets every message, counter and fault; connections stay open.
func (h *tmcHub) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.groups {
		g.queue, g.inflight, g.due = nil, map[int64]*tmcMsg{}, nil
		for c := range g.conns {
			c.inflight = 0
		}
	}
	h.pending = map[int64]*tmcMsg{}
	h.confirmed = nil
	h.counters = TMCCounters{}
	h.faults = TMCFaults{}
	h.notifyLocked()
}

// status reports the hub's groups, connections and counters.
func (h *tmcHub) status() TMCStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := TMCStatus{Counters: h.counters, Settings: h.settings, Faults: h.faults, Groups: []TMCGroupStatus{}}
	for _, g := range h.groups {
		gs := TMCGroupStatus{Name: g.name, Queued: len(g.queue), InFlight: len(g.inflight), Connections: []TMCConnection{}}
		for c := range g.conns {
			gs.Connections = append(gs.Connections, TMCConnection{
				ID: c.id, Group: c.group, Remote: c.remote, SDK: c.sdk, ConnectedAt: c.connectedAt,
				InFlight: c.inflight, Delivered: c.delivered, Confirmed: c.confirmed, Failed: c.failed,
				Pulls: c.pulls, Pings: c.pings.Load(), ServerPings: c.serverPings.Load(),
			})
		}
		slices.SortFunc(gs.Connections, func(a, b TMCConnection) int { return cmp.Compare(a.ID, b.ID) })
		st.Groups = append(st.Groups, gs)
	}
	slices.SortFunc(st.Groups, func(a, b TMCGroupStatus) int { return cmp.Compare(a.Name, b.Name) })
	return st
}

// TMCFilter selects message records.
type TMCFilter struct {
	// State is queued, in_flight, confirmed or "" for all.
	State string
	// Topic and Group, when set, must match.
	Topic, Group string
	// Limit caps the answer (the newest first); 0 is no cap.
	Limit int
}

// messages lists the records that match f, newest first.
func (h *tmcHub) messages(f TMCFilter) ([]TMCMessageRecord, error) {
	switch f.State {
	case "", TMCQueued, TMCInFlight, TMCConfirmed:
	default:
		return nil, fmt.Errorf("state must be %s, %s or %s", TMCQueued, TMCInFlight, TMCConfirmed)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []TMCMessageRecord{}
	add := func(m *tmcMsg) {
		r := m.rec
		if (f.State == "" || r.State == f.State) && (f.Topic == "" || r.Topic == f.Topic) && (f.Group == "" || r.Group == f.Group) {
			out = append(out, r)
		}
	}
	for _, m := range h.pending {
		add(m)
	}
	for _, m := range h.confirmed {
		add(m)
	}
	slices.SortFunc(out, func(a, b TMCMessageRecord) int { return cmp.Compare(b.ID, a.ID) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}
