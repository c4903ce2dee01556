package server

import (
	"errors"
	"log/slog"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/metrics"
)

// AuditConfig holds the settings of the audit trail. It is embedded in
// SecurityConfig, so its fields are settings like Config's own.
type AuditConfig struct {
	AuditRetention  time.Duration `flag:"audit-retention" default:"2160h" help:"How long audit events are kept in the store (2160h is 90 days): older ones are deleted at start and then every hour, in batches of 1000. 0 keeps them forever; otherwise at least 1h."`
	AuditFailClosed bool          `flag:"audit-fail-closed" default:"false" help:"Refuse mutating calls (UNAVAILABLE, reason AUDIT_UNAVAILABLE) while audit events cannot be written to the store: from a failed write until one succeeds again. Off, such calls go on and their events are only in the log. Failed writes are counted in servicecenterd_audit_write_failures_total either way."`
}

// minAuditRetention is the shortest retention accepted (besides 0): a
// shorter one is more likely a mistyped unit than a wish.
const minAuditRetention = time.Hour

func (c *AuditConfig) validateAudit() []error {
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < minAuditRetention) {
		return []error{errors.New("--audit-retention must be 0 (keep forever) or at least 1h")}
	}
	return nil
}

// newAuditor builds the audit trail: every event goes to the log and,
// when there is one, to the durable store; with a store and a retention,
// also the pruning of old events (nil otherwise).
func newAuditor(c AuditConfig, store audit.Store, m *metrics.Metrics, logger *slog.Logger) (*audit.Auditor, *audit.Retention, error) {
	recorders := []audit.Recorder{audit.NewLogSink(logger.With(slog.String("component", "audit")))}
	if store != nil {
		recorders = append(recorders, store)
	}
	auditor := audit.NewAuditor(audit.Multi(recorders...), logger, audit.Options{
		Methods: auditedMethods, FailClosed: c.AuditFailClosed && store != nil, Failed: m.AuditWriteFailed,
	})
	if store == nil || c.AuditRetention == 0 {
		return auditor, nil, nil
	}
	retention, err := audit.NewRetention(audit.RetentionConfig{
		Store: store, Keep: c.AuditRetention, Pruned: m.AuditPruned,
		Logger: logger.With(slog.String("component", "audit")),
	})
	if err != nil {
		return nil, nil, err
	}
	return auditor, retention, nil
}
