//go:build !linux

package hub

import (
	"errors"
	"net"
)

// Without Linux's epoll an HTTP/2 connection does not park: its reader
// is a goroutine blocked in its read, as on net/http's server.
type h2Poller struct{}

// h2Park would be a connection's parking; always nil here.
type h2Park struct{}

var errWouldBlock = errors.New("hub: read would block")

func (h *Hub) h2Parking(nc net.Conn) (net.Conn, *h2Park) { return nc, nil }

func (h *Hub) closeH2Poller() {}

func (k *h2Park) readNow([]byte) (int, error) { return 0, errWouldBlock }

func (k *h2Park) park(*h2Conn) bool { return false }

func (k *h2Park) stop() bool { return false }

func (p *h2Poller) parkedConns() int { return 0 }
