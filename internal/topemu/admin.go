package topemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// maxAdminBody bounds a PUT /_emulator/state body (a million blacklist
// entries fit).
const maxAdminBody = 256 << 20

// Stats is the answer of GET /_emulator/stats.
type Stats struct {
	// Calls counts /router/rest calls since start or reset.
	Calls CallStats `json:"calls"`
	// Blacklist counts the blacklist sync's effects, for exactly-once
	// checks: after syncing N distinct mobiles once each, EntriesApplied ==
	// MobilesApplied == N and MaxAppliesPerMobile == 1.
	Blacklist BlacklistStats `json:"blacklist"`
}

// CallStats counts calls.
type CallStats struct {
	// Total counts every call.
	Total int64 `json:"total"`
	// ByMethod counts calls per method parameter.
	ByMethod map[string]int64 `json:"by_method"`
	// ByErrorCode counts error_response answers per code.
	ByErrorCode map[string]int64 `json:"by_error_code"`
}

// BlacklistStats counts the blacklist sync's effects since the seed was
// loaded (kept in the state file across restarts, except the replay and
// conflict counters).
type BlacklistStats struct {
	// SyncRequestsApplied is the number of distinct request_ids applied.
	SyncRequestsApplied int `json:"sync_requests_applied"`
	// SyncRequestsReplayed counts calls answered from an applied request_id.
	SyncRequestsReplayed int64 `json:"sync_requests_replayed"`
	// SyncRequestsConflicting counts calls refused for reusing a request_id
	// with another payload.
	SyncRequestsConflicting int64 `json:"sync_requests_conflicting"`
	// EntriesApplied is the number of entries applied, over all requests.
	EntriesApplied int64 `json:"entries_applied"`
	// MobilesApplied is the number of distinct mobiles applied at least once.
	MobilesApplied int `json:"mobiles_applied"`
	// MaxAppliesPerMobile is the most times one mobile was applied.
	MaxAppliesPerMobile int64 `json:"max_applies_per_mobile"`
	// MobilesAppliedMoreThanOnce counts mobiles applied twice or more.
	MobilesAppliedMoreThanOnce int `json:"mobiles_applied_more_than_once"`
	// Listed is the number of mobiles on the blacklist now.
	Listed int `json:"listed"`
	// AppliesByMobile answers ?mobile=... queries: applies of each.
	AppliesByMobile map[string]int64 `json:"applies_by_mobile,omitempty"`
}

// Stats returns the call and blacklist counters; mobiles asks for the
// apply counts of those mobiles.
func (e *Emulator) Stats(mobiles ...string) Stats {
	var out Stats
	e.stats.mu.Lock()
	out.Calls = CallStats{Total: e.stats.total, ByMethod: map[string]int64{}, ByErrorCode: map[string]int64{}}
	for k, v := range e.stats.byMethod {
		out.Calls.ByMethod[k] = v
	}
	for k, v := range e.stats.byCode {
		out.Calls.ByErrorCode[strconv.Itoa(k)] = v
	}
	out.Blacklist.SyncRequestsReplayed = e.stats.replays
	out.Blacklist.SyncRequestsConflicting = e.stats.conflicts
	e.stats.mu.Unlock()

	e.mu.RLock()
	defer e.mu.RUnlock()
	b := &out.Blacklist
	b.SyncRequestsApplied = len(e.m.syncs)
	for _, entry := range e.m.blacklist {
		if entry.listed {
			b.Listed++
		}
		if entry.applies == 0 {
			continue
		}
		n := int64(entry.applies)
		b.EntriesApplied += n
		b.MobilesApplied++
		b.MaxAppliesPerMobile = max(b.MaxAppliesPerMobile, n)
		if n > 1 {
			b.MobilesAppliedMoreThanOnce++
		}
	}
	if len(mobiles) > 0 {
		b.AppliesByMobile = make(map[string]int64, len(mobiles))
		for _, m := range mobiles {
			b.AppliesByMobile[m] = int64(e.m.blacklist[m].applies)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// okAnswer is the body of admin calls that change something.
type okAnswer struct {
	OK bool `json:"ok"`
}

func (e *Emulator) handleIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/_emulator/" {
		writeError(w, http.StatusNotFound, errors.New("no such admin endpoint; see GET /_emulator/"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"top_endpoint": "/router/rest",
		"admin": []string{
			"POST /_emulator/reset", "GET /_emulator/state", "PUT /_emulator/state",
			"GET /_emulator/calls?method=&limit=", "DELETE /_emulator/calls",
			"GET /_emulator/faults", "PUT /_emulator/faults", "DELETE /_emulator/faults",
			"GET /_emulator/stats?mobile=",
			"GET /_emulator/tmc", "GET /_emulator/tmc/messages?state=&topic=&group=&limit=", "POST /_emulator/tmc/messages",
			"GET /_emulator/tmc/faults", "PUT /_emulator/tmc/faults", "DELETE /_emulator/tmc/faults",
			"PUT /_emulator/tmc/settings", "POST /_emulator/tmc/drop",
			"POST /_emulator/workcards", "POST /_emulator/workcards/{id}/status",
		},
		"tmc_endpoint": "ws://" + r.Host + "/",
	})
}

func (e *Emulator) handleReset(w http.ResponseWriter, r *http.Request) {
	if err := e.Reset(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	e.log.Info("emulator reset to its seed")
	writeJSON(w, http.StatusOK, okAnswer{OK: true})
}

func (e *Emulator) handleGetState(w http.ResponseWriter, _ *http.Request) {
	e.mu.RLock()
	s := e.m.export()
	e.mu.RUnlock()
	writeJSON(w, http.StatusOK, s)
}

func (e *Emulator) handlePutState(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	s, err := ParseState(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := e.Load(r.Context(), s); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	e.log.Info("emulator state loaded over the admin API",
		"workers", len(s.Workers), "workcards", len(s.Workcards), "blacklist", len(s.Blacklist))
	writeJSON(w, http.StatusOK, okAnswer{OK: true})
}

// callsAnswer is the body of GET /_emulator/calls.
type callsAnswer struct {
	// Recorded counts calls since start or the last clear, including
	// those the ring no longer holds.
	Recorded int64          `json:"recorded"`
	Calls    []RecordedCall `json:"calls"`
}

func (e *Emulator) handleGetCalls(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, errors.New("limit must be a non-negative whole number"))
			return
		}
		limit = n
	}
	calls, recorded := e.rec.list(r.URL.Query().Get("method"), limit)
	writeJSON(w, http.StatusOK, callsAnswer{Recorded: recorded, Calls: calls})
}

func (e *Emulator) handleDeleteCalls(w http.ResponseWriter, _ *http.Request) {
	e.rec.clear()
	writeJSON(w, http.StatusOK, okAnswer{OK: true})
}

func (e *Emulator) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, e.faults.get())
}

func (e *Emulator) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := f.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	e.faults.set(f)
	e.log.Info("emulator faults set", "rules", len(f.Rules), "quota", f.Quota != nil)
	writeJSON(w, http.StatusOK, e.faults.get())
}

func (e *Emulator) handleDeleteFaults(w http.ResponseWriter, _ *http.Request) {
	e.faults.set(Faults{})
	writeJSON(w, http.StatusOK, okAnswer{OK: true})
}

func (e *Emulator) handleGetStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, e.Stats(r.URL.Query()["mobile"]...))
}
