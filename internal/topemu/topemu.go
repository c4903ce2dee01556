// Package topemu is the embedded Taobao Open Platform (TOP) gateway
// emulator. It serves /router/rest as TOP does (system parameter checks,
// the three signature methods, the ±10 minute timestamp window in UTC+8,
// sessions, TOP's error codes, JSON, simplified JSON and XML) and
// implements the TOP methods servicecenterd calls (top.Methods) with the
// API documents' business rules on a small state: workcards, workers,
// stores, the pickup user blacklist and virtual numbers. Admin endpoints
// under /_emulator/ reset, export and load the state, list the calls
// received and inject faults.
//
// It also speaks the Taobao Message Channel (TMC) on "/" over WebSocket
// (tmc.go, the frames from internal/tmc/frame): it checks the signed
// CONNECT, delivers the messages published on it (by the admin API, by
// workcards created or changed there and by the workcard calls), tracks
// unconfirmed ones and redelivers them. Its queues live in memory only.
//
// The Emulator is an http.Handler; run it in-process (httptest, or behind
// servicecenterd's own client) or alone with `servicecenterd emulator`.
// State lives in memory, or in a SQLite file that survives restarts.
package topemu

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Default credentials of the emulator: demo values, not secrets of any
// real app.
const (
	DefaultAppKey    = "emulator"
	DefaultAppSecret = "emulator-secret"
	DefaultSession   = "emulator-session"
)

// Defaults of Config.
const (
	DefaultMaxRecordedCalls = 10000
	DefaultVirtualNumberTTL = 24 * time.Hour
)

// Config configures an Emulator. The zero value is usable.
type Config struct {
	// AppKey is the only app key accepted; default "emulator".
	AppKey string
	// AppSecret signs calls; default "emulator-secret".
	AppSecret string
	// Session is the only session accepted for the tmall.* methods;
	// default "emulator-session".
	Session string
	// Seed is the initial state and the reset target; nil is DemoState().
	// With a StateFile that already holds state, the file wins.
	Seed *State
	// StateFile is "" for state in memory, else a SQLite file that keeps
	// the state across restarts.
	StateFile string
	// Now is the clock for the timestamp window, the quota, virtual number
	// expiry and recorded times; default time.Now.
	Now func() time.Time
	// Logger logs calls at debug level and admin changes at info level;
	// never secrets or personal data. Default: discard.
	Logger *slog.Logger
	// MaxRecordedCalls bounds the ring of recorded calls; 0 means
	// DefaultMaxRecordedCalls, a negative value records nothing.
	MaxRecordedCalls int
	// VirtualNumberTTL is how long a workcard keeps its virtual number;
	// default DefaultVirtualNumberTTL.
	VirtualNumberTTL time.Duration
	// TMCRedeliveryTimeout is how long a delivered TMC message may stay
	// unconfirmed before it is delivered again; 0 means
	// DefaultTMCRedeliveryTimeout.
	TMCRedeliveryTimeout time.Duration
	// TMCRetryDelay is how long a TMC message reported failed waits before
	// its redelivery; 0 means DefaultTMCRetryDelay, a negative value none.
	TMCRetryDelay time.Duration
	// TMCWindow is how many unconfirmed TMC messages one connection may
	// hold; 0 means DefaultTMCWindow.
	TMCWindow int
	// TMCPingInterval is how often each TMC connection is pinged (one that
	// does not answer within it is dropped); 0 means
	// DefaultTMCPingInterval, a negative value sends no pings.
	TMCPingInterval time.Duration
	// FaultSeed seeds the random source of probabilistic fault rules;
	// 0 picks a random seed. PUT /_emulator/faults can reseed it.
	FaultSeed uint64
}

// Emulator is a TOP gateway emulator. It is safe for concurrent use.
type Emulator struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	faults *faultSet
	rec    *recorder
	tmc    *tmcHub
	db     *sqliteStore // nil in memory

	// mu guards seed and m; writers also hold it while saving to db, so
	// the file and memory change together.
	mu   sync.RWMutex
	seed *State
	m    *model

	// handle answers the TOP methods (handlers); it never changes.
	handle map[string]handler

	reqPrefix string
	reqSeq    atomic.Uint64
	stats     stats

	closeOnce sync.Once
	closed    chan struct{}
}

// New returns an Emulator configured by cfg. With cfg.StateFile it opens
// (or creates) the SQLite file and loads the state saved there.
func New(cfg Config) (*Emulator, error) {
	if cfg.AppKey == "" {
		cfg.AppKey = DefaultAppKey
	}
	if cfg.AppSecret == "" {
		cfg.AppSecret = DefaultAppSecret
	}
	if cfg.Session == "" {
		cfg.Session = DefaultSession
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.MaxRecordedCalls == 0:
		cfg.MaxRecordedCalls = DefaultMaxRecordedCalls
	case cfg.MaxRecordedCalls < 0:
		cfg.MaxRecordedCalls = 0
	}
	if cfg.VirtualNumberTTL <= 0 {
		cfg.VirtualNumberTTL = DefaultVirtualNumberTTL
	}
	if cfg.TMCRedeliveryTimeout <= 0 {
		cfg.TMCRedeliveryTimeout = DefaultTMCRedeliveryTimeout
	}
	switch {
	case cfg.TMCRetryDelay == 0:
		cfg.TMCRetryDelay = DefaultTMCRetryDelay
	case cfg.TMCRetryDelay < 0:
		cfg.TMCRetryDelay = 0
	}
	if cfg.TMCWindow <= 0 {
		cfg.TMCWindow = DefaultTMCWindow
	}
	switch {
	case cfg.TMCPingInterval == 0:
		cfg.TMCPingInterval = DefaultTMCPingInterval
	case cfg.TMCPingInterval < 0:
		cfg.TMCPingInterval = 0
	}
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, fmt.Errorf("read random seed: %w", err)
	}
	if cfg.FaultSeed == 0 {
		cfg.FaultSeed = binary.LittleEndian.Uint64(random[:8])
	}
	seed := cfg.Seed
	if seed == nil {
		seed = DemoState()
	}
	if err := seed.Validate(); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	seed, err := seed.clone()
	if err != nil {
		return nil, err
	}
	sortState(seed)

	e := &Emulator{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		faults: newFaultSet(cfg.FaultSeed),
		rec:    newRecorder(cfg.MaxRecordedCalls),
		tmc: newTMCHub(cfg.Now, TMCSettings{
			RedeliveryTimeout: Duration(cfg.TMCRedeliveryTimeout),
			RetryDelay:        Duration(cfg.TMCRetryDelay),
			Window:            cfg.TMCWindow,
			PingInterval:      Duration(cfg.TMCPingInterval),
		}),
		seed:      seed,
		reqPrefix: requestPrefix(random[8:12]),
		closed:    make(chan struct{}),
	}
	if cfg.StateFile == "" {
		e.m = newModel(seed)
	} else if err := e.openStateFile(); err != nil {
		return nil, err
	}
	e.handle = e.handlers()
	e.routes()
	return e, nil
}

// openStateFile opens the SQLite file and loads it, or saves the seed into
// a new file.
func (e *Emulator) openStateFile() error {
	ctx := context.Background()
	db, err := openSQLite(ctx, e.cfg.StateFile)
	if err != nil {
		return err
	}
	seed, m, ok, err := db.load(ctx)
	if err != nil {
		db.Close()
		return fmt.Errorf("load state file %s: %w", e.cfg.StateFile, err)
	}
	if ok {
		e.seed, e.m = seed, m
		e.log.Info("emulator state loaded", "file", e.cfg.StateFile,
			"workers", len(m.workers), "workcards", len(m.workcards), "blacklist", len(m.blacklist))
	} else {
		e.m = newModel(e.seed)
		if err := db.replaceAll(ctx, e.seed, e.m); err != nil {
			db.Close()
			return fmt.Errorf("initialise state file %s: %w", e.cfg.StateFile, err)
		}
	}
	e.db = db
	return nil
}

// requestPrefix makes 4 lowercase letters that start every request_id of
// this emulator, so ids differ across restarts and never begin with digits.
func requestPrefix(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = 'a' + c%26
	}
	return string(out)
}

// newRequestID returns a TOP-like request_id: 12 lowercase letters and digits.
func (e *Emulator) newRequestID() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	n := e.reqSeq.Add(1)
	var b [12]byte
	copy(b[:], e.reqPrefix)
	for i := 11; i >= 4; i-- {
		b[i] = digits[n%36]
		n /= 36
	}
	return string(b[:])
}

// ServeHTTP serves /router/rest (TOP) and /_emulator/... (admin).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mux.ServeHTTP(w, r)
}

func (e *Emulator) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("/router/rest", e.serveTOP)
	mux.HandleFunc("POST /_emulator/reset", e.handleReset)
	mux.HandleFunc("GET /_emulator/state", e.handleGetState)
	mux.HandleFunc("PUT /_emulator/state", e.handlePutState)
	mux.HandleFunc("GET /_emulator/calls", e.handleGetCalls)
	mux.HandleFunc("DELETE /_emulator/calls", e.handleDeleteCalls)
	mux.HandleFunc("GET /_emulator/faults", e.handleGetFaults)
	mux.HandleFunc("PUT /_emulator/faults", e.handlePutFaults)
	mux.HandleFunc("DELETE /_emulator/faults", e.handleDeleteFaults)
	mux.HandleFunc("GET /_emulator/stats", e.handleGetStats)
	mux.HandleFunc("GET /_emulator/", e.handleIndex)
	mux.HandleFunc("GET /{$}", e.serveTMC)
	mux.HandleFunc("GET /_emulator/tmc", e.handleGetTMC)
	mux.HandleFunc("GET /_emulator/tmc/messages", e.handleGetTMCMessages)
	mux.HandleFunc("POST /_emulator/tmc/messages", e.handlePostTMCMessage)
	mux.HandleFunc("GET /_emulator/tmc/faults", e.handleGetTMCFaults)
	mux.HandleFunc("PUT /_emulator/tmc/faults", e.handlePutTMCFaults)
	mux.HandleFunc("DELETE /_emulator/tmc/faults", e.handleDeleteTMCFaults)
	mux.HandleFunc("PUT /_emulator/tmc/settings", e.handlePutTMCSettings)
	mux.HandleFunc("POST /_emulator/tmc/drop", e.handleTMCDrop)
	mux.HandleFunc("POST /_emulator/workcards", e.handleCreateWorkcard)
	mux.HandleFunc("POST /_emulator/workcards/{id}/status", e.handleWorkcardStatus)
	e.mux = mux
}

// Close ends injected delays, closes the TMC connections and the state
// file. Calls still being served after Close may fail.
func (e *Emulator) Close() error {
	var err error
	e.closeOnce.Do(func() {
		close(e.closed)
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.db != nil {
			if cerr := e.db.Close(); cerr != nil {
				err = fmt.Errorf("close state file: %w", cerr)
			}
			e.db = nil
		}
	})
	return err
}

// errClosed is returned for writes after Close.
var errClosed = errors.New("emulator is closed")

// Snapshot returns a deep copy of the current state, for tests.
func (e *Emulator) Snapshot() *State {
	e.mu.RLock()
	s := e.m.export()
	e.mu.RUnlock()
	out, err := s.clone()
	if err != nil {
		// The state was built from validated JSON; it always encodes.
		panic(fmt.Sprintf("topemu: snapshot: %v", err))
	}
	return out
}

// Reset puts the state back to the seed, and clears recorded calls,
// statistics and fault rules.
func (e *Emulator) Reset(ctx context.Context) error {
	e.mu.Lock()
	err := e.replaceLocked(ctx, e.seed)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	e.rec.clear()
	e.faults.set(Faults{})
	e.stats.reset()
	e.tmc.reset()
	return nil
}

// Load makes s the seed (the reset target) and the current state.
func (e *Emulator) Load(ctx context.Context, s *State) error {
	if err := s.Validate(); err != nil {
		return err
	}
	seed, err := s.clone()
	if err != nil {
		return err
	}
	sortState(seed)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.replaceLocked(ctx, seed); err != nil {
		return err
	}
	e.seed = seed
	return nil
}

// replaceLocked replaces the state with a fresh model of seed, saving it
// first. e.mu must be held.
func (e *Emulator) replaceLocked(ctx context.Context, seed *State) error {
	select {
	case <-e.closed:
		return errClosed
	default:
	}
	m := newModel(seed)
	if e.db != nil {
		if err := e.db.replaceAll(ctx, seed, m); err != nil {
			return fmt.Errorf("save state: %w", err)
		}
	}
	e.m = m
	return nil
}

// stats counts calls; counters reset with the state.
type stats struct {
	mu        sync.Mutex
	byMethod  map[string]int64
	byCode    map[int]int64
	total     int64
	replays   int64
	conflicts int64
}

func (s *stats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byMethod, s.byCode = nil, nil
	s.total, s.replays, s.conflicts = 0, 0, 0
}

func (s *stats) count(method string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byMethod == nil {
		s.byMethod, s.byCode = map[string]int64{}, map[int]int64{}
	}
	s.total++
	if method != "" {
		s.byMethod[method]++
	}
	if code != 0 {
		s.byCode[code]++
	}
}

func (s *stats) countSync(replay, conflict bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if replay {
		s.replays++
	}
	if conflict {
		s.conflicts++
	}
}

// knows reports whether the emulator implements method.
func (e *Emulator) knows(method string) bool {
	_, ok := e.handle[method]
	return ok
}
