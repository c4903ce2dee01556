// Package replicas holds end-to-end tests of servicecenterd run as several
// replicas of one app: the built binary, three processes on one
// PostgreSQL database and one Redis, against one TOP emulator in the test
// process. It has no code of its own.
package replicas
