package audit

import (
	"errors"
	"log/slog"
	"time"
)

// Settings are the audit trail's settings of `servicecenterd serve`:
// flags, SERVICECENTERD_* variables and YAML keys (internal/config).
type Settings struct {
	// Retention is how long the store keeps events; 0 is forever.
	Retention time.Duration `flag:"audit-retention" default:"2160h" help:"How long audit events are kept in the store (2160h is 90 days): older ones are deleted at start and then every hour, in batches of 1000. 0 keeps them forever; otherwise at least 1h."`
	// FailClosed is Options.FailClosed, with a store.
	FailClosed bool `flag:"audit-fail-closed" default:"false" help:"Refuse mutating calls (UNAVAILABLE, reason AUDIT_UNAVAILABLE) while audit events cannot be written to the store: from a failed write until one succeeds again. Off, such calls go on and their events are only in the log. Failed writes are counted in servicecenterd_audit_write_failures_total either way."`
}

// MinRetention is the shortest retention accepted (besides 0): a shorter
// one is more likely a mistyped unit than a wish.
const MinRetention = time.Hour

// Validate checks the settings; errors name the flag.
func (s Settings) Validate() error {
	if s.Retention < 0 || (s.Retention > 0 && s.Retention < MinRetention) {
		return errors.New("--audit-retention must be 0 (keep forever) or at least 1h")
	}
	return nil
}

// TrailHooks are told what the trail does (metrics); nil fields are
// skipped.
type TrailHooks struct {
	// WriteFailed is Options.Failed.
	WriteFailed func()
	// Pruned is RetentionConfig.Pruned.
	Pruned func(n int)
}

// NewTrail builds the audit trail of the calls plan audits: every event
// goes to the log and, when there is one, to store; with a store and a
// retention, a Retention prunes it (nil otherwise: run it when not nil).
// Without a store, FailClosed has no effect: the log cannot fail.
func NewTrail(s Settings, store Store, plan *Plan, hooks TrailHooks, logger *slog.Logger) (*Auditor, *Retention, error) {
	recorders := []Recorder{NewLogSink(logger.With(slog.String("component", "audit")))}
	if store != nil {
		recorders = append(recorders, store)
	}
	auditor := NewAuditor(Multi(recorders...), logger, Options{
		Plan: plan, FailClosed: s.FailClosed && store != nil, Failed: hooks.WriteFailed,
	})
	if store == nil || s.Retention == 0 {
		return auditor, nil, nil
	}
	retention, err := NewRetention(RetentionConfig{
		Store: store, Keep: s.Retention, Pruned: hooks.Pruned,
		Logger: logger.With(slog.String("component", "audit")),
	})
	if err != nil {
		return nil, nil, err
	}
	return auditor, retention, nil
}
