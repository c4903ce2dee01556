// Package store is servicecenterd's durable state: the blacklist sync
// jobs of the bulk path (it implements syncjob.Store) and the audit trail
// (audit.Store). The default implementation is SQLite through a pure
// Go driver (modernc.org/sqlite, no cgo), one file in the data directory
// (and, while an import is in progress, a staging file of its own);
// the job logic and the audit trail see only their interfaces, so that a
// networked database can be added later without touching them.
//
// # Schema migrations
//
// The schema is versioned. Every change is one Migration in the ordered
// list in migrations.go; Open runs the ones a file has not had yet, each in
// its own transaction together with the version bump (SQLite's
// PRAGMA user_version), so a crash leaves a file at a whole version. A file
// whose version is newer than the binary knows is refused. See the comment
// on migrations in migrations.go for how to add one.
package store

import (
	"io"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
)

// Store is all durable state. Each concern owns its interface, next to
// its model (syncjob.Store for the blacklist sync jobs, audit.Store for
// the audit trail), so that one can change without touching the others;
// an implementation provides them all, over one database.
type Store interface {
	syncjob.Store
	audit.Store
	io.Closer
}
