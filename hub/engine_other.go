//go:build !linux

package hub

import (
	"errors"
	"net"
)

// Without Linux's epoll there is no connection engine: every subscriber
// is served by its own goroutine, as net/http does.
type connEngine struct{}

type engineSub struct{}

func newEngine(*Hub) (*connEngine, error) { return nil, nil }

func (e *connEngine) adopt(net.Conn, *subscriber) error {
	return errors.New("hub: no connection engine")
}

func (e *connEngine) close() {}

func (es *engineSub) scheduleLocked(*subscriber) {}

func (e *connEngine) parked() int { return 0 }
