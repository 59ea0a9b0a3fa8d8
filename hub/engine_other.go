//go:build !linux

package hub

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// Without Linux's epoll there is no connection engine: every subscriber
// is served by its own goroutine, as net/http does.
type connEngine struct{}

// engineAvailable says whether this platform has the engine.
const engineAvailable = false

// engineConfig is what the engine would need of its hub.
type engineConfig struct {
	heartbeat, writeTimeout time.Duration
	clock                   clock
	counters                *counters
	log                     *slog.Logger
	release                 func(*subscriber, closeReason)
	noRing                  bool
}

func newEngine(engineConfig) (*connEngine, error) { return nil, nil }

func (e *connEngine) adopt(net.Conn, *subscriber, *sealer) error {
	return errors.New("hub: no connection engine")
}

func (e *connEngine) close() {}

func (e *connEngine) parked() int { return 0 }
