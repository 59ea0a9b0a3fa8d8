//go:build linux

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A ProcSample is a process's resource use at one moment, from /proc.
type ProcSample struct {
	CPU     time.Duration // user + system, all threads (schedstat, nanoseconds)
	RSS     int64         // resident set, bytes
	Threads int
}

// Sample reads /proc for pid.
func Sample(pid int) (ProcSample, error) {
	var s ProcSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			s.RSS = kb << 10
		case len(f) >= 2 && f[0] == "Threads:":
			s.Threads, _ = strconv.Atoi(f[1])
		}
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			s.CPU += time.Duration(ns)
		}
	}
	return s, nil
}
