// Package topwire holds the facts of the Taobao Open Platform (TOP) REST wire
// protocol that both sides of a call need: method names, system parameter
// names, signing, form encoding, the UTC+8 time format, envelope keys, the
// platform's error codes and how they classify.
//
// The TOP client (internal/topclient) and the TOP emulator (internal/topsim)
// both build on this package, so the protocol is written once. Sources for
// every rule are in ../shared/docs/top-protocol.md.
package topwire
