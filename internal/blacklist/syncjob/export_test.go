package syncjob

import "github.com/riverqueue/river"

// What the tests of package syncjob_test use of the internals. They are
// an external package because they run the Manager on the SQLite store,
// and internal/store/sqlite imports this package.
var (
	ChunkRequest = chunkRequest
	NewJobID     = newJobID
)

// Unexported constants.
const (
	ImportBatch     = importBatch
	MsgMobileFormat = msgMobileFormat
	MsgReasonRange  = msgReasonRange
)

// WatchSlots counts the watch slots m holds.
func WatchSlots(m *Manager) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.changed)
}

// ChunkArgs is River's job of chunk n of job id (round 0).
func ChunkArgs(id string, n int64) river.JobArgs { return chunkArgs{Job: id, Chunk: n} }
