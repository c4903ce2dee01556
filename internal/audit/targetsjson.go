package audit

import (
	"encoding/json"
	"fmt"
	"strings"
)

// jsonTarget is a target as the stores keep it, in JSON.
type jsonTarget struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// TargetsJSON is targets as the stores keep them (audit_events.targets):
// a JSON array of {"kind":..,"id":..} objects, byte for byte what
// encoding/json makes of them. Kinds and ids of plain ASCII (no quote,
// backslash, control or HTML character: numbers, masked phone numbers)
// are written directly, without encoding/json's reflection; any other
// text goes through encoding/json.
func TargetsJSON(targets []Target) (string, error) {
	n := 2
	for _, t := range targets {
		if !verbatimJSON(t.Kind) || !verbatimJSON(t.ID) {
			return marshalTargets(targets)
		}
		n += len(`{"kind":"","id":""},`) + len(t.Kind) + len(t.ID)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('[')
	for i, t := range targets {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"kind":"`)
		b.WriteString(t.Kind)
		b.WriteString(`","id":"`)
		b.WriteString(t.ID)
		b.WriteString(`"}`)
	}
	b.WriteByte(']')
	return b.String(), nil
}

// ParseTargetsJSON reads targets written by TargetsJSON; it returns nil for
// an empty array.
func ParseTargetsJSON(raw string) ([]Target, error) {
	var stored []jsonTarget
	if err := json.Unmarshal([]byte(raw), &stored); err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	var out []Target
	for _, t := range stored {
		out = append(out, Target(t))
	}
	return out, nil
}

func marshalTargets(targets []Target) (string, error) {
	stored := make([]jsonTarget, len(targets))
	for i, t := range targets {
		stored[i] = jsonTarget(t)
	}
	raw, err := json.Marshal(stored)
	if err != nil {
		return "", fmt.Errorf("targets: %w", err)
	}
	return string(raw), nil
}

// verbatimJSON reports whether encoding/json writes s as it is between
// quotes: printable ASCII other than the quote, the backslash and the
// characters it escapes for HTML (<, >, &).
func verbatimJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
