package topemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Faults is the fault document of /_emulator/faults: rules that make calls
// slow or fail, and a per-app-key quota.
type Faults struct {
	// Seed, when set, reseeds the emulator's random source, so rules with a
	// probability fire on the same calls in every run.
	Seed *uint64 `json:"seed,omitempty"`
	// Rules are tried in order for each call that passed TOP's checks; the
	// first that matches the method and fires applies.
	Rules []FaultRule `json:"rules"`
	// Quota limits calls per second per app key; nil means no limit.
	Quota *Quota `json:"quota,omitempty"`
}

// FaultRule is one fault. Its effects apply in this order: Latency, then
// one of Drop, HTTPStatus, Error or Busy.
type FaultRule struct {
	// Method is the TOP method the rule applies to; "" or "*" is every method.
	Method string `json:"method,omitempty"`
	// Latency delays the answer.
	Latency Duration `json:"latency,omitempty"`
	// Drop closes the connection without an answer.
	Drop bool `json:"drop,omitempty"`
	// HTTPStatus answers with this HTTP status; with Error the body is the
	// error envelope, else a plain text body.
	HTTPStatus int `json:"http_status,omitempty"`
	// Error answers with this TOP error_response.
	Error *FaultError `json:"error,omitempty"`
	// Busy answers the method's own transient business failure (for the
	// blacklist sync: success false, code 500, is_retry true).
	Busy bool `json:"busy,omitempty"`
	// Probability is the chance in (0, 1] that a matching call fires the
	// rule; 0 means 1.
	Probability float64 `json:"probability,omitempty"`
	// Count limits how many calls the rule fires on; 0 is no limit.
	Count int `json:"count,omitempty"`
	// Fired counts the calls the rule fired on (read-only).
	Fired int `json:"fired"`
}

// FaultError is the TOP error a rule answers.
type FaultError struct {
	// Code is TOP's code, e.g. 15.
	Code int `json:"code"`
	// Msg is TOP's msg; empty means TOP's message for Code.
	Msg string `json:"msg,omitempty"`
	// SubCode is sub_code, e.g. isp.top-remote-service-unavailable.
	SubCode string `json:"sub_code,omitempty"`
	// SubMsg is sub_msg.
	SubMsg string `json:"sub_msg,omitempty"`
}

// Quota limits each app key to CallsPerSecond calls per second. A call over
// the limit bans the app key for BanSeconds (default 1): it and every call
// during the ban get code 7 with "This ban will last for N more seconds".
type Quota struct {
	// CallsPerSecond is the limit; it must be positive.
	CallsPerSecond int `json:"calls_per_second"`
	// BanSeconds is the ban's length; 0 means 1.
	BanSeconds int `json:"ban_seconds,omitempty"`
}

// Duration is a time.Duration that reads "250ms" or a number of
// milliseconds from JSON, and writes "250ms".
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("latency %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return errors.New("latency must be a duration such as \"250ms\" or milliseconds")
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

// maxLatency bounds an injected delay.
const maxLatency = 5 * time.Minute

// validate checks f and fills defaults.
func (f *Faults) validate() error {
	for i := range f.Rules {
		r := &f.Rules[i]
		effects := 0
		for _, on := range []bool{r.Drop, r.HTTPStatus != 0, r.Error != nil, r.Busy} {
			if on {
				effects++
			}
		}
		switch {
		case effects == 0 && r.Latency == 0:
			return fmt.Errorf("rules[%d]: no effect (latency, drop, http_status, error or busy)", i)
		case r.Drop && effects > 1:
			return fmt.Errorf("rules[%d]: drop cannot be combined with another answer", i)
		case r.Busy && effects > 1:
			return fmt.Errorf("rules[%d]: busy cannot be combined with another answer", i)
		case r.Latency < 0 || time.Duration(r.Latency) > maxLatency:
			return fmt.Errorf("rules[%d]: latency must be between 0 and %s", i, maxLatency)
		case r.HTTPStatus != 0 && (r.HTTPStatus < 200 || r.HTTPStatus > 599):
			return fmt.Errorf("rules[%d]: http_status must be 200 to 599", i)
		case r.Error != nil && r.Error.Code <= 0:
			return fmt.Errorf("rules[%d]: error.code must be positive", i)
		case r.Probability < 0 || r.Probability > 1:
			return fmt.Errorf("rules[%d]: probability must be in [0, 1]", i)
		case r.Count < 0:
			return fmt.Errorf("rules[%d]: count must not be negative", i)
		}
		if r.Method == "*" {
			r.Method = ""
		}
		if r.Error != nil && r.Error.Msg == "" {
			r.Error.Msg = top.Message(r.Error.Code)
		}
		r.Fired = 0
	}
	if q := f.Quota; q != nil {
		if q.CallsPerSecond <= 0 || q.BanSeconds < 0 {
			return errors.New("quota: calls_per_second must be positive and ban_seconds not negative")
		}
		if q.BanSeconds == 0 {
			q.BanSeconds = 1
		}
	}
	return nil
}

// faultSet holds the fault rules, the quota windows and the random source.
type faultSet struct {
	mu    sync.Mutex
	rng   *rand.Rand
	doc   Faults
	quota map[string]*quotaWindow
}

type quotaWindow struct {
	second      int64 // Unix second of the current window
	calls       int
	bannedUntil time.Time
}

func newFaultSet(seed uint64) *faultSet {
	return &faultSet{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), quota: map[string]*quotaWindow{}}
}

// set replaces the rules (already validated).
func (f *faultSet) set(doc Faults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if doc.Seed != nil {
		f.rng = rand.New(rand.NewPCG(*doc.Seed, *doc.Seed^0x9e3779b97f4a7c15))
	}
	doc.Seed = nil
	f.doc = doc
	f.quota = map[string]*quotaWindow{}
}

// get returns a copy of the rules with their fired counts.
func (f *faultSet) get() Faults {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := Faults{Rules: append([]FaultRule{}, f.doc.Rules...)}
	if f.doc.Quota != nil {
		q := *f.doc.Quota
		out.Quota = &q
	}
	return out
}

// checkQuota counts a call of appKey at now and returns the remaining ban
// when the call is over the quota.
func (f *faultSet) checkQuota(appKey string, now time.Time) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.doc.Quota
	if q == nil {
		return 0, false
	}
	w := f.quota[appKey]
	if w == nil {
		w = &quotaWindow{}
		f.quota[appKey] = w
	}
	if now.Before(w.bannedUntil) {
		return w.bannedUntil.Sub(now), true
	}
	if sec := now.Unix(); sec != w.second {
		w.second, w.calls = sec, 0
	}
	w.calls++
	if w.calls <= q.CallsPerSecond {
		return 0, false
	}
	ban := time.Duration(q.BanSeconds) * time.Second
	w.bannedUntil = now.Add(ban)
	return ban, true
}

// match returns the rule that fires for a call of method, if any.
func (f *faultSet) match(method string) (FaultRule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.doc.Rules {
		r := &f.doc.Rules[i]
		if r.Method != "" && r.Method != method {
			continue
		}
		if r.Count > 0 && r.Fired >= r.Count {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && f.rng.Float64() >= r.Probability {
			continue
		}
		r.Fired++
		return *r, true
	}
	return FaultRule{}, false
}

// name describes the rule's answer for the call record.
func (r FaultRule) name() string {
	switch {
	case r.Drop:
		return "drop"
	case r.HTTPStatus != 0:
		return "http_status " + strconv.Itoa(r.HTTPStatus)
	case r.Error != nil:
		return "error " + strconv.Itoa(r.Error.Code)
	case r.Busy:
		return "busy"
	}
	return "latency"
}
