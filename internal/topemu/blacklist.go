package topemu

import (
	"context"
	"crypto/sha256"
	"net/url"
	"strconv"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/mainland"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// MaxBlacklistEntries is the most entries one sync call may carry.
const MaxBlacklistEntries = 100

func blacklistAnswer(success bool, code, message string, retry bool) answer {
	return answer{resp: &top.BlacklistSyncResponse{UserBlacklistResponse: top.UserBlacklistResponse{
		Success: top.Bool(success), Code: top.String(code), Message: message, IsRetry: top.Bool(retry),
	}}}
}

// blacklistSuccess is the answer to an applied request and to its replays.
func blacklistSuccess() answer {
	return blacklistAnswer(true, top.BlacklistCodeSuccess, "SUCCESS", false)
}

// syncBlacklist is taobao.logistics.express.user.blacklist.tms.sync.
//
// Idempotency: a request_id that was applied is answered SUCCESS again
// with nothing changed when the payload is the same, and 409 when it
// differs. The payload is compared without request_time, which a retry may
// renew. Rejected requests (400, 500) do not use up their request_id.
func (e *Emulator) syncBlacklist(ctx context.Context, p url.Values, now time.Time, busy bool) answer {
	var req top.BlacklistSyncRequest
	if err := req.DecodeParams(p); err != nil {
		return invalidParam(err)
	}
	u := req.UserBlacklistRequest
	if u == nil {
		return missingParam("user_blacklist_request")
	}
	if busy {
		return blacklistAnswer(false, top.BlacklistCodeBusy, "SYSTEM_BUSY", true)
	}
	invalid := validateBlacklist(u)
	if u.RequestID == "" {
		return blacklistAnswer(false, top.BlacklistCodeInvalid, invalid, false)
	}
	fp := fingerprint(u)

	e.mu.Lock()
	defer e.mu.Unlock()
	if rec, seen := e.m.syncs[u.RequestID]; seen {
		if rec.fingerprint == fp {
			e.stats.countSync(true, false)
			return blacklistSuccess()
		}
		e.stats.countSync(false, true)
		return blacklistAnswer(false, top.BlacklistCodeConflict,
			"REQUEST_ID_CONFLICT: request_id was already used with a different payload", false)
	}
	if invalid != "" {
		return blacklistAnswer(false, top.BlacklistCodeInvalid, invalid, false)
	}
	listed := u.OperateType == top.OperateUpsert
	supplier := e.m.intern(u.SupplierID)
	updated := now.Unix()
	rows := make([]blRow, 0, len(u.Blacklist))
	pending := make(map[string]int, len(u.Blacklist)) // mobile -> index in rows
	for _, b := range u.Blacklist {
		prev, ok := e.m.blacklist[b.Mobile]
		if i, dup := pending[b.Mobile]; dup {
			prev, ok = rows[i].entry, true
		}
		next := blEntry{supplier: supplier, updated: updated, listed: listed, applies: 1}
		if ok {
			next.applies = prev.applies + 1
			next.reasons = prev.reasons
		}
		if listed {
			next.reasons, _ = parseReasons(b.Reason) // validated
		}
		if i, dup := pending[b.Mobile]; dup {
			rows[i].entry = next
			continue
		}
		pending[b.Mobile] = len(rows)
		rows = append(rows, blRow{mobile: b.Mobile, entry: next})
	}
	rec := syncRecord{fingerprint: fp, entries: int32(len(u.Blacklist))}
	select {
	case <-e.closed:
		return e.storageFailedRetry(errClosed)
	default:
	}
	if e.db != nil {
		if err := e.db.applySync(context.WithoutCancel(ctx), rows, u.RequestID, rec); err != nil {
			return e.storageFailedRetry(err)
		}
	}
	for _, r := range rows {
		e.m.blacklist[r.mobile] = r.entry
	}
	e.m.syncs[u.RequestID] = rec
	return blacklistSuccess()
}

// storageFailedRetry answers a failed save of a sync: a transient failure.
func (e *Emulator) storageFailedRetry(err error) answer {
	e.log.Error("save blacklist sync", "err", err)
	return blacklistAnswer(false, top.BlacklistCodeBusy, "SYSTEM_BUSY", true)
}

// validateBlacklist returns the PARAM_ERROR message for u, or "".
func validateBlacklist(u *top.UserBlacklistRequest) string {
	bad := func(why string) string { return "PARAM_ERROR: " + why }
	switch {
	case u.RequestID == "":
		return bad("request_id is required")
	case u.RequestTime <= 0:
		return bad("request_time is required (epoch milliseconds)")
	case u.SupplierID == "":
		return bad("supplier_id is required")
	case u.ServiceType != top.ServiceTypePickup:
		return bad("service_type must be 1")
	case u.AbilityType != top.AbilityTypePickup:
		return bad("ability_type must be 1")
	case u.OperateType != top.OperateUpsert && u.OperateType != top.OperateDelete:
		return bad("operate_type must be 1 (add or update) or 2 (delete)")
	case len(u.Blacklist) == 0:
		return bad("blacklist is required")
	case len(u.Blacklist) > MaxBlacklistEntries:
		return bad("blacklist has more than " + strconv.Itoa(MaxBlacklistEntries) + " entries")
	}
	for i, b := range u.Blacklist {
		at := "blacklist[" + strconv.Itoa(i) + "]"
		if b.Mobile == "" {
			return bad(at + ".mobile is required")
		}
		if !mainland.ValidMobile(b.Mobile) {
			return bad(at + ".mobile is not a mainland mobile number")
		}
		if _, err := parseReasons(b.Reason); err != nil {
			return bad(at + "." + err.Error())
		}
	}
	return ""
}

// fingerprint hashes the payload of a sync request without request_time.
// Reasons are compared as sets ("2,1" equals "1,2").
func fingerprint(u *top.UserBlacklistRequest) [sha256.Size]byte {
	h := sha256.New()
	write := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	write(u.SupplierID)
	write(u.ServiceType)
	write(u.AbilityType)
	write(strconv.FormatInt(int64(u.OperateType), 10))
	for _, b := range u.Blacklist {
		write(b.Mobile)
		if m, err := parseReasons(b.Reason); err == nil {
			write(m.String())
		} else {
			write("raw:" + b.Reason)
		}
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
