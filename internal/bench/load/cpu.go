package load

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

// MachineBusy returns the CPU time all processes of the machine have spent
// busy so far (every state but idle and iowait), from /proc/stat.
func MachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return ParseProcStatBusy(b)
}

// ParseProcStatBusy returns the busy time of the "cpu" line of the text
// of /proc/stat: user + nice + system + irq + softirq + steal (guest time is
// already counted in user).
func ParseProcStatBusy(stat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return 0, errors.New("proc stat: no cpu line")
	}
	var ticks int64
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("proc stat: bad tick count %q", f)
		}
		if i != 3 && i != 4 { // idle, iowait
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
