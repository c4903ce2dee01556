// Package replicas tests servicecenterd run as several replicas of one
// deployment: built binaries (internal/testutil/testserver) sharing one
// PostgreSQL database (internal/testutil/pgtest) and one TOP emulator,
// killed with SIGKILL while they work.
package replicas
