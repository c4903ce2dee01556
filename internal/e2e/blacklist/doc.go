// Package blacklist holds end-to-end tests of the durable bulk blacklist
// sync that run the real servicecenterd binary as a child process against
// a TOP emulator in the test process (so the emulator outlives the
// server): the SIGKILL-and-restart exactly-once test (part of make test)
// and, behind the build tag blacklistbench, the throughput and memory
// benchmark of `make bench-blacklist`. It has no code of its own.
package blacklist
