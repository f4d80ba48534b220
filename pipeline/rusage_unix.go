//go:build unix

package pipeline

import (
	"runtime"
	"syscall"
	"time"
)

// processUsage returns the CPU time the process has used (user + system)
// and its peak resident set so far, in bytes.
func processUsage() (time.Duration, int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	peak := int64(ru.Maxrss) * 1024 // kilobytes on Linux
	if runtime.GOOS == "darwin" {
		peak = int64(ru.Maxrss) // bytes on macOS
	}
	return cpu, peak
}
