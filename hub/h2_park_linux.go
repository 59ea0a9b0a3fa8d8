//go:build linux

package hub

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Parking idle HTTP/2 connections (h2c) on Linux. A connection whose
// reader finds nothing to read registers its socket with the hub's
// h2Poller (one epoll set, one goroutine, per hub, started with the
// first park) and its goroutine ends: an idle connection is its socket,
// its state and its streams, with no goroutine and no read buffer. When
// bytes arrive or the client leaves, the poller starts a reader again.
//
// The registration is one-shot (EPOLLONESHOT): an event starts one
// reader and disarms the socket until that reader parks again, so that
// one reader at a time runs for a connection. Registrations carry a
// token, never the descriptor, as the engine's do.
//
// The connection's socket is the hub's own: serveUnencrypted (and
// serveConn, for TLS) takes a duplicate of net/http's (whose goroutine
// must return, and then closes its copy) as a bare descriptor
// (h2Socket, h2_socket_linux.go), a net.Conn which handlers and the
// flusher write to with deadlines as on every system, which the reader
// reads without waiting (readNow), and which the poller registers.
type h2Poller struct {
	epfd   int
	wakefd int // an eventfd in the set (token 0): written to stop the loop
	wg     sync.WaitGroup
	starts atomic.Int64 // readers started by an event: how often a parked connection woke

	mu     sync.Mutex // guards the fields below and every h2Park's
	conns  map[uint64]*h2Conn
	token  uint64
	closed bool
}

// h2Park is a connection's registration with the poller; nil where the
// connection cannot park. Its fields are guarded by the poller's mu.
type h2Park struct {
	p       *h2Poller
	sock    *h2Socket
	token   uint64 // 0 until first parked
	parked  bool   // armed in the epoll set, no reader running
	stopped bool   // the socket is closing: never parked again
}

var errWouldBlock = errors.New("hub: read would block")

// h2Parking returns the connection an HTTP/2 connection's socket nc (h2c,
// or the TCP connection under TLS) is served on, and its parking (nil if
// it cannot park: then nc itself). On success nc is closed: the socket
// lives on in the returned connection, the hub's own bare descriptor
// (h2Socket).
func (h *Hub) h2Parking(nc net.Conn) (net.Conn, *h2Park) {
	p := h.h2PollerOf()
	if p == nil {
		return nc, nil
	}
	s, err := newH2Socket(nc)
	if err != nil {
		return nc, nil
	}
	nc.Close()
	return s, &h2Park{p: p, sock: s}
}

// h2PollerOf returns the hub's poller, started at its first call; nil
// if the hub is not open (or epoll is unavailable: connections then keep
// a reader goroutine, as on other systems).
func (h *Hub) h2PollerOf() *h2Poller {
	h.mu.Lock()
	if h.state != stateOpen {
		h.mu.Unlock()
		return nil
	}
	var err error
	if h.h2poll == nil && !h.h2pollFailed {
		h.h2poll, err = newH2Poller()
		h.h2pollFailed = err != nil
	}
	p := h.h2poll
	h.mu.Unlock()
	if err != nil { // logged once, by the call that failed, after the lock
		h.log.Warn("HTTP/2 connection poller unavailable; every h2c connection keeps a goroutine", "err", err)
	}
	return p
}

// closeH2Poller stops the hub's poller, if it started. Called by Close
// once the hub is closing (no poller starts after).
func (h *Hub) closeH2Poller() {
	h.mu.Lock()
	p := h.h2poll
	h.mu.Unlock()
	if p != nil {
		p.close()
	}
}

func newH2Poller() (*h2Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		ev := event(unix.EPOLLIN, 0)
		if err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
			unix.Close(wakefd)
		}
	}
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &h2Poller{epfd: epfd, wakefd: wakefd, conns: map[uint64]*h2Conn{}}
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// loop is the poller's goroutine: each event starts its connection's
// reader.
func (p *h2Poller) loop() {
	defer p.wg.Done()
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return // EBADF and the like: close stops what is parked
		}
		for i := range max(n, 0) {
			token := tokenOf(&events[i])
			if token == 0 {
				return // close
			}
			p.mu.Lock()
			c := p.conns[token]
			start := c != nil && c.park.parked
			if start {
				c.park.parked = false
			}
			p.mu.Unlock()
			if start {
				p.starts.Add(1)
				go c.run()
			}
		}
	}
}

// close stops the poller: every parked connection gets its reader back,
// which reads by blocking from then on, as on other systems.
func (p *h2Poller) close() {
	unix.Write(p.wakefd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	p.wg.Wait()
	p.mu.Lock()
	p.closed = true
	var woken []*h2Conn
	for _, c := range p.conns {
		if c.park.parked {
			c.park.parked = false
			woken = append(woken, c)
		}
	}
	clear(p.conns)
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
	p.mu.Unlock()
	for _, c := range woken {
		go c.run()
	}
}

// readNow reads what the socket holds without waiting: errWouldBlock if
// nothing, io.EOF once the client has closed its side.
func (k *h2Park) readNow(b []byte) (int, error) { return k.sock.readNow(b) }

// park arms c's socket in the poller, its reader about to end. It
// reports false if c cannot park (closing, or the poller is): the
// reader goes on and blocks in its read.
func (k *h2Park) park(c *h2Conn) bool {
	k.sock.demote() // no reader waits in it now; a writer may
	p := k.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || k.stopped {
		return false
	}
	op := unix.EPOLL_CTL_MOD
	if k.token == 0 {
		p.token++
		k.token = p.token
		p.conns[k.token] = c
		op = unix.EPOLL_CTL_ADD
	}
	ev := event(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLONESHOT, k.token)
	if k.sock.control(func(fd int) error { return unix.EpollCtl(p.epfd, op, fd, &ev) }) != nil {
		return false
	}
	k.parked = true
	return true
}

// stop ends k's parking for good, before its socket is closed, and
// reports whether the connection was parked (then no reader runs, and
// the caller starts one). k may be nil.
func (k *h2Park) stop() bool {
	if k == nil {
		return false
	}
	p := k.p
	p.mu.Lock()
	defer p.mu.Unlock()
	k.stopped = true
	parked := k.parked
	k.parked = false
	if k.token != 0 && !p.closed {
		k.sock.control(func(fd int) error { return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil) })
		delete(p.conns, k.token)
	}
	return parked
}

// parkedConns returns how many connections p holds with no reader; p
// may be nil.
func (p *h2Poller) parkedConns() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.conns {
		if c.park.parked {
			n++
		}
	}
	return n
}
