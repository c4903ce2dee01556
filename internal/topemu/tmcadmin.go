package topemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

func (e *Emulator) handleGetTMC(w http.ResponseWriter, r *http.Request) {
	st := e.TMCStatus()
	st.Endpoint = "ws://" + r.Host + "/"
	writeJSON(w, http.StatusOK, st)
}

func (e *Emulator) handleGetTMCMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := TMCFilter{State: q.Get("state"), Topic: q.Get("topic"), Group: q.Get("group")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, errors.New("limit must be a non-negative whole number"))
			return
		}
		f.Limit = n
	}
	msgs, err := e.TMCMessages(f)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

// tmcPublishRequest is the body of POST /_emulator/tmc/messages: a
// TMCMessage whose content may also be a JSON object or array, sent on as
// its text.
type tmcPublishRequest struct {
	Topic     string          `json:"topic"`
	Content   json.RawMessage `json:"content"`
	Group     string          `json:"group,omitempty"`
	UserID    int64           `json:"user_id,omitempty"`
	UserNick  string          `json:"user_nick,omitempty"`
	Publisher string          `json:"publisher,omitempty"`
	DataID    int64           `json:"data_id,omitempty"`
}

func (e *Emulator) handlePostTMCMessage(w http.ResponseWriter, r *http.Request) {
	var req tmcPublishRequest
	if err := decodeAdminJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	content, err := contentText(req.Content)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	id, err := e.PublishTMC(TMCMessage{
		Topic: req.Topic, Content: content, Group: req.Group, UserID: req.UserID,
		UserNick: req.UserNick, Publisher: req.Publisher, DataID: req.DataID,
	})
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id})
}

// contentText is a publish's content: a JSON string as its value, an
// object or array as its compact text.
func contentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("content: %w", err)
		}
		return s, nil
	case '{', '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return "", fmt.Errorf("content: %w", err)
		}
		return buf.String(), nil
	default:
		return "", errors.New("content must be a string, a JSON object or a JSON array")
	}
}

func (e *Emulator) handleGetTMCFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, e.tmc.getFaults())
}

func (e *Emulator) handlePutTMCFaults(w http.ResponseWriter, r *http.Request) {
	var f TMCFaults
	if err := decodeAdminJSON(w, r, &f); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := e.SetTMCFaults(f); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	e.log.Info("emulator tmc faults set", "delay", f.Delay, "duplicate", f.Duplicate, "drop_after", f.DropAfter, "reject_connect", f.RejectConnect)
	writeJSON(w, http.StatusOK, e.tmc.getFaults())
}

func (e *Emulator) handleDeleteTMCFaults(w http.ResponseWriter, _ *http.Request) {
	e.tmc.setFaults(TMCFaults{})
	writeJSON(w, http.StatusOK, okAnswer{OK: true})
}

func (e *Emulator) handlePutTMCSettings(w http.ResponseWriter, r *http.Request) {
	var s TMCSettings
	if err := decodeAdminJSON(w, r, &s); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := e.SetTMCSettings(s); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, e.TMCStatus().Settings)
}

func (e *Emulator) handleTMCDrop(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]int{"dropped": e.DropTMCConnections()})
}

// decodeAdminJSON reads a small admin body strictly.
func decodeAdminJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}
