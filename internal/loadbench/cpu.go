package loadbench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// Linux fixes it at 100 for user space on every architecture Go supports.
const clockTicks = 100

// Process is a process whose CPU time is measured.
type Process struct {
	// Name names it in reports and errors.
	Name string
	// PID is its process id; 0 means the calling process itself.
	PID int
}

// CPU returns the CPU time (user + system, all threads) the process has
// used so far, read from /proc/<pid>/stat.
func (p Process) CPU() (time.Duration, error) {
	path := "/proc/self/stat"
	if p.PID != 0 {
		path = "/proc/" + strconv.Itoa(p.PID) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return ParseStatCPU(b)
}

// ParseStatCPU returns utime + stime from the text of /proc/<pid>/stat.
// The second field (the command name, in parentheses) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func ParseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15).
	fields := bytes.Fields(stat[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("stat: %d fields after the command name, want more than %d", len(fields), stime)
	}
	var ticks int64
	for _, f := range [...][]byte{fields[utime], fields[stime]} {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("stat: bad tick count %q", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
