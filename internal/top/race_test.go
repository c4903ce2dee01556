//go:build race

package top

// raceEnabled is true under -race, where sync.Pool drops items on purpose
// and allocation counts do not hold.
const raceEnabled = true
