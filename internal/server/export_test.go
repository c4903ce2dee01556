package server

import (
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/metrics"
)

// Internals the external tests (package server_test, which run servers
// through internal/testutil/testserver) look at.

// CloseAll releases what New acquired, for a test that built a server it
// will not serve.
func (s *Server) CloseAll() { s.closeAll() }

// CodecPending is how many decoded requests the codec holds for the
// interceptors.
func (s *Server) CodecPending() int { return s.codec.Pending() }

// SetSyncJobs replaces the source of the sync job gauges.
func (s *Server) SetSyncJobs(c metrics.SyncJobCounter) { s.metrics.SetSyncJobs(c) }

// SetSyncChunkQueue replaces the source of the chunk queue's age gauge.
func (s *Server) SetSyncChunkQueue(q metrics.SyncChunkQueue) { s.metrics.SetSyncChunkQueue(q) }

// StoreTrail lists the audit events in the durable store of --data-dir.
func (s *Server) StoreTrail() audit.Lister { return s.store }

// ImportMethod is the bulk import's full method.
const ImportMethod = importMethod

// ServiceNames are the services whose health is reported one by one.
var ServiceNames = serviceNames
