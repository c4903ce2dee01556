// Package docs runs the examples of README.md and of the pages under docs/
// against a live servicecenterd, so that the documentation stays true.
//
// An example is a ```sh block; when an output block (```json, ```text or
// a bare ```) follows it at once, the output must match it. Each page runs
// in order against a fresh server on loopback with random ports (the
// embedded emulator too, with its demo data); the documented addresses
// (127.0.0.1:9090, localhost:8080, 127.0.0.1:8800) are rewritten to the
// real ones, `servicecenterd` and `bin/servicecenterd` are the binary built
// from this tree, and commands run in a scratch folder where examples/ is
// the repository's.
//
// Matching is by meaning, not bytes: JSON is compared as values (the
// expected object may leave fields out; a "...": "..." member or a final
// "..." array element says so), with run-dependent values (TOP and
// servicecenterd request ids, job ids, times, page tokens) replaced by
// placeholders on both sides; text must contain the expected lines in order
// ("..." lines skip). grpcurl commands (bin/grpcurl) are run in-process with
// grpcurl's JSON conventions (JSON names, defaults left out), so that the
// test needs no grpcurl build; their errors are compared by code, message
// and details.
//
// A block the test must not run (it needs Tmall credentials, a clients
// file, or is the test suite itself) is preceded by a line
// `<!-- example: not run (why) -->`; a page whose examples need a
// differently configured server says so with `<!-- example server: FLAGS -->`
// before its first example.
package docs
