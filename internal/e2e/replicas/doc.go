// Package replicas tests servicecenterd run as several replicas of one
// deployment: built binaries (internal/testutil/testserver) sharing one
// PostgreSQL database (internal/testutil/pgtest), one Redis
// (internal/testutil/redistest) and one TOP emulator: killed with SIGKILL
// while they work, and keeping to one TOP quota and its bans.
package replicas
