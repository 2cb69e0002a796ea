package cli

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// userHZ is the unit of utime/stime in /proc/PID/stat. Linux fixes it at
// 100 for user space (USER_HZ) on every architecture Go supports.
const userHZ = 100

// processCPU returns the user+system CPU time a process has used so far,
// read from /proc/PID/stat (Linux only). Resolution is 10 ms, so measure
// runs of a few seconds or more.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cli: broker cpu: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself; the fields we need follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("cli: broker cpu: unexpected /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	// After ')': state is field 3, so utime (14) and stime (15) sit at 11, 12.
	if len(f) < 13 {
		return 0, fmt.Errorf("cli: broker cpu: short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cli: broker cpu: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// selfCPU returns the user+system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures this process's CPU and optionally a broker's over a run.
type cpuMeter struct {
	pid            int // broker process id; 0 = not measured
	self0, broker0 time.Duration
	selfD, brokerD time.Duration
	brokerMeasured bool
}

func startCPU(pid int) (*cpuMeter, error) {
	m := &cpuMeter{pid: pid, self0: selfCPU()}
	if pid > 0 {
		b, err := processCPU(pid)
		if err != nil {
			return nil, err
		}
		m.broker0 = b
	}
	return m, nil
}

func (m *cpuMeter) stop() error {
	m.selfD = selfCPU() - m.self0
	if m.pid > 0 {
		b, err := processCPU(m.pid)
		if err != nil {
			return err
		}
		m.brokerD, m.brokerMeasured = b-m.broker0, true
	}
	return nil
}
