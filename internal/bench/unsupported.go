//go:build !linux

package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// ErrUnsupported is what a scenario returns off Linux: the generator holds
// its connections in epoll, bound to 127.x.y.z source addresses, and reads
// the hub's memory and CPU from /proc.
var ErrUnsupported = fmt.Errorf("the load generator needs Linux (epoll, /proc), not %s: run herd bench on a Linux machine", runtime.GOOS)

func unsupported(context.Context, Config, Target) ([]Report, error) { return nil, ErrUnsupported }

var runIdle, runFanout, runLatency, runAccept, runTopics, runSlow, runCurve, runPerSubscriber = unsupported, unsupported,
	unsupported, unsupported, unsupported, unsupported, unsupported, unsupported

// A ProcSample is a process's resource use at one moment (Linux only).
type ProcSample struct {
	CPU     time.Duration
	RSS     int64
	Threads int
}

// Sample returns ErrUnsupported off Linux.
func Sample(pid int) (ProcSample, error) { return ProcSample{}, ErrUnsupported }

// RaiseFileLimit does nothing off Linux and returns 0.
func RaiseFileLimit() uint64 { return 0 }
