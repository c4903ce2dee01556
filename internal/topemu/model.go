package topemu

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// model is the live state. Values are replaced, never changed in place, so
// an exported copy can be read while handlers go on.
type model struct {
	stores     map[int64]Store
	storeCodes map[string]int64
	workcards  map[int64]Workcard
	workers    map[int64]Worker
	categories map[int64]bool
	bizTypes   map[string]bool
	vnums      map[int64]VirtualNumber
	vseq       int64
	// blacklist holds every mobile the sync ever touched; deleted users stay
	// as unlisted entries so their apply count survives.
	blacklist map[string]blEntry
	// syncs are the applied blacklist sync requests by request_id.
	syncs map[string]syncRecord
	// suppliers interns supplier ids, which repeat across entries.
	suppliers map[string]string
}

// blEntry is one blacklist mobile, kept small: a bulk sync stores millions.
type blEntry struct {
	supplier string
	updated  int64 // Unix seconds
	applies  uint32
	reasons  reasonMask
	listed   bool
}

// syncRecord is an applied blacklist sync request, for idempotency.
type syncRecord struct {
	fingerprint [sha256.Size]byte
	entries     int32
}

// newModel builds the live state from a validated document.
func newModel(s *State) *model {
	m := &model{
		stores:     make(map[int64]Store, len(s.Stores)),
		storeCodes: make(map[string]int64, len(s.Stores)),
		workcards:  make(map[int64]Workcard, len(s.Workcards)),
		workers:    make(map[int64]Worker, len(s.Workers)),
		categories: make(map[int64]bool, len(s.Categories)),
		bizTypes:   make(map[string]bool, len(s.BizTypes)),
		vnums:      make(map[int64]VirtualNumber, len(s.VirtualNumbers)),
		blacklist:  make(map[string]blEntry, len(s.Blacklist)),
		syncs:      map[string]syncRecord{},
		suppliers:  map[string]string{},
	}
	for _, st := range s.Stores {
		m.stores[st.ID] = st
		m.storeCodes[st.Code] = st.ID
	}
	for _, wc := range s.Workcards {
		m.workcards[wc.ID] = wc
	}
	for _, w := range s.Workers {
		m.workers[w.ID] = w
	}
	for _, c := range s.Categories {
		m.categories[c] = true
	}
	for _, b := range s.BizTypes {
		m.bizTypes[b] = true
	}
	for _, v := range s.VirtualNumbers {
		m.vnums[v.WorkcardID] = v
		m.noteNumber(v.Number)
	}
	for _, b := range s.Blacklist {
		reasons, _ := parseReasons(b.Reasons) // validated
		m.blacklist[b.Mobile] = blEntry{
			supplier: m.intern(b.SupplierID), updated: b.UpdatedAt.Unix(),
			reasons: reasons, listed: true,
		}
	}
	return m
}

// intern returns one shared copy of a supplier id.
func (m *model) intern(s string) string {
	if v, ok := m.suppliers[s]; ok {
		return v
	}
	m.suppliers[s] = s
	return s
}

// virtualPrefix starts every virtual number the emulator hands out.
const virtualPrefix = "170"

// noteNumber keeps vseq above every number already handed out.
func (m *model) noteNumber(n string) {
	if rest, ok := strings.CutPrefix(n, virtualPrefix); ok {
		if v, err := strconv.ParseInt(rest, 10, 64); err == nil && v > m.vseq {
			m.vseq = v
		}
	}
}

// nextNumber returns a new virtual number: 170 and 8 digits.
func (m *model) nextNumber() string {
	m.vseq++
	s := strconv.FormatInt(m.vseq%100_000_000, 10)
	return virtualPrefix + strings.Repeat("0", 8-len(s)) + s
}

// export returns the state as a document. Slices and maps inside workers
// and workcards are shared with the model, which never changes them in
// place.
func (m *model) export() *State {
	s := &State{
		Stores:         make([]Store, 0, len(m.stores)),
		Workcards:      make([]Workcard, 0, len(m.workcards)),
		Workers:        make([]Worker, 0, len(m.workers)),
		Blacklist:      make([]BlacklistEntry, 0, len(m.blacklist)),
		VirtualNumbers: make([]VirtualNumber, 0, len(m.vnums)),
		Categories:     make([]int64, 0, len(m.categories)),
		BizTypes:       make([]string, 0, len(m.bizTypes)),
	}
	for _, st := range m.stores {
		s.Stores = append(s.Stores, st)
	}
	for _, wc := range m.workcards {
		s.Workcards = append(s.Workcards, wc)
	}
	for _, w := range m.workers {
		s.Workers = append(s.Workers, w)
	}
	for mobile, b := range m.blacklist {
		if b.listed {
			s.Blacklist = append(s.Blacklist, b.entry(mobile))
		}
	}
	for _, v := range m.vnums {
		s.VirtualNumbers = append(s.VirtualNumbers, v)
	}
	for c := range m.categories {
		s.Categories = append(s.Categories, c)
	}
	for b := range m.bizTypes {
		s.BizTypes = append(s.BizTypes, b)
	}
	sortState(s)
	return s
}

// entry is b as a document entry.
func (b blEntry) entry(mobile string) BlacklistEntry {
	return BlacklistEntry{
		Mobile: mobile, Reasons: b.reasons.String(), SupplierID: b.supplier,
		UpdatedAt: top.Time{Time: time.Unix(b.updated, 0).In(top.Beijing())},
	}
}

// workerByMobile finds a worker by phone; with several (one per biz type)
// the lowest id wins, so the answer is stable.
func (m *model) workerByMobile(mobile string) (Worker, bool) {
	var found Worker
	ok := false
	for _, w := range m.workers {
		if w.Phone == mobile && (!ok || w.ID < found.ID) {
			found, ok = w, true
		}
	}
	return found, ok
}
