//go:build !race

package topwire

const raceEnabled = false
