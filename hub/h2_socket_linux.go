//go:build linux

package hub

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// h2Socket is the socket of an HTTP/2 connection the hub parks on Linux
// (h2c, and TLS 1.3 taken from crypto/tls): a bare descriptor, a
// duplicate of net/http's, as the connection engine keeps its
// subscribers' (engine_linux.go). Go's own connection for it (its netFD,
// its poller state, its two addresses: about a kilobyte of memory) would
// be most of what an idle connection's socket costs.
//
// Reads and writes are system calls on the descriptor, made without
// waiting (it is non-blocking, as Go made net/http's). One that must wait
// (a write to a client slow to read, a read that waits with a deadline:
// the preface, the GOAWAY's linger, a hub whose poller closed) goes
// through an os.File of a second duplicate, made for it (promote), so
// that it waits in Go's poller with the deadline, never in a system call
// that holds a thread. The file is dropped again when the connection's
// reader parks and no one waits in it (demote): an idle connection keeps
// only the descriptor.
//
// mu makes closing safe against the system calls: they run under its
// read lock, on a descriptor not closed yet, and Close takes the write
// lock, so that no read or write can reach another connection that got
// the same number after the close. The promoted file closes itself as
// Go's connections do. Promotion, demotion and the deadlines are under
// the write lock too. Lock order: h2Conn.wmu, tlsRecordConn.wmu and
// h2Poller.mu (the parking's epoll registration), then h2Socket.mu.
type h2Socket struct {
	mu       sync.RWMutex
	fd       int
	closed   bool
	users    atomic.Int32 // goroutines waiting in promoted, or about to
	rdl, wdl int64        // deadlines, Unix nanoseconds; 0: none
	promoted *os.File     // nil until a wait, and again once parked
	// The addresses, net/http's own (its connection's, closed): the
	// local one is in the requests' base context already.
	laddr, raddr net.Addr
}

// h2Promotions counts the sockets promoted (tests).
var h2Promotions atomic.Int64

// newH2Socket makes a socket of a duplicate of nc's descriptor; nc is
// left open, for the caller to close.
func newH2Socket(nc net.Conn) (*h2Socket, error) {
	fd, err := dupSocket(nc)
	if err != nil {
		return nil, err
	}
	// Its reads and writes must never wait in the kernel. Go's sockets
	// are non-blocking (accept4 with SOCK_NONBLOCK), and the duplicate
	// shares the flag.
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		unix.Close(fd)
		return nil, errors.New("hub: socket is blocking")
	}
	return &h2Socket{fd: fd, laddr: nc.LocalAddr(), raddr: nc.RemoteAddr()}, nil
}

func (s *h2Socket) LocalAddr() net.Addr  { return s.laddr }
func (s *h2Socket) RemoteAddr() net.Addr { return s.raddr }

// readNow reads what the socket holds without waiting: errWouldBlock if
// nothing, io.EOF once the client has closed its side.
func (s *h2Socket) readNow(b []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, net.ErrClosed
	}
	return s.readLocked(b)
}

// readLocked is one non-blocking read; mu is held (read), the socket open.
func (s *h2Socket) readLocked(b []byte) (int, error) {
	for {
		n, err := unix.Read(s.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, s.opError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Read reads, waiting (in Go's poller, with the read deadline) if
// nothing has come.
func (s *h2Socket) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, net.ErrClosed
	}
	if s.promoted == nil {
		n, err := s.readLocked(b)
		if err != errWouldBlock {
			s.mu.RUnlock()
			return n, err
		}
	}
	s.mu.RUnlock()
	f, err := s.waiter()
	if err != nil {
		return 0, err
	}
	defer s.users.Add(-1)
	return f.Read(b)
}

// Write writes b, all of it unless it fails. What the socket does not
// take at once is written through the promoted file, which waits for
// room with the write deadline.
func (s *h2Socket) Write(b []byte) (int, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, net.ErrClosed
	}
	done := 0
	if s.promoted == nil {
		for done < len(b) {
			n, err := unix.Write(s.fd, b[done:])
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				s.mu.RUnlock()
				return done, s.opError("write", err)
			}
			done += n
		}
		if done == len(b) {
			s.mu.RUnlock()
			return done, nil
		}
	}
	s.mu.RUnlock()
	f, err := s.waiter()
	if err != nil {
		return done, err
	}
	defer s.users.Add(-1)
	n, err := f.Write(b[done:])
	return done + n, err
}

// waiter returns the promoted file, made if there is none, for a read or
// a write that waits: the caller waits in it, and then gives it back
// (users.Add(-1)).
func (s *h2Socket) waiter() (*os.File, error) {
	s.mu.RLock()
	if f := s.promoted; f != nil && !s.closed {
		s.users.Add(1)
		s.mu.RUnlock()
		return f, nil
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, net.ErrClosed
	}
	if s.promoted == nil {
		fd, err := dupCloexec(s.fd)
		if err != nil {
			return nil, s.opError("dup", err)
		}
		// Non-blocking, so a file in Go's poller; its Fd method, which
		// would make the shared socket blocking, is never called.
		f := os.NewFile(uintptr(fd), "h2")
		err = f.SetReadDeadline(deadline(s.rdl))
		if err == nil {
			err = f.SetWriteDeadline(deadline(s.wdl))
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		s.promoted = f
		h2Promotions.Add(1)
	}
	s.users.Add(1)
	return s.promoted, nil
}

// demote closes the promoted file, if no one waits in it: called as the
// connection parks, its reader done.
func (s *h2Socket) demote() {
	s.mu.Lock()
	f := s.promoted
	if f == nil || s.users.Load() != 0 {
		s.mu.Unlock()
		return
	}
	s.promoted = nil
	s.mu.Unlock()
	f.Close()
}

// control runs fn with the descriptor (the parking's epoll
// registration), unless the socket is closed.
func (s *h2Socket) control(fn func(fd int) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return net.ErrClosed
	}
	return fn(s.fd)
}

func (s *h2Socket) SetDeadline(t time.Time) error {
	return s.setDeadlines(t, true, true)
}

func (s *h2Socket) SetReadDeadline(t time.Time) error {
	return s.setDeadlines(t, true, false)
}

func (s *h2Socket) SetWriteDeadline(t time.Time) error {
	return s.setDeadlines(t, false, true)
}

func (s *h2Socket) setDeadlines(t time.Time, read, write bool) error {
	n := int64(0)
	if !t.IsZero() {
		n = max(t.UnixNano(), 1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	if read {
		s.rdl = n
	}
	if write {
		s.wdl = n
	}
	if s.promoted == nil {
		return nil
	}
	if read && write {
		return s.promoted.SetDeadline(t)
	}
	if read {
		return s.promoted.SetReadDeadline(t)
	}
	return s.promoted.SetWriteDeadline(t)
}

// deadline is a deadline as stored.
func deadline(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// CloseWrite shuts the socket's sending side.
func (s *h2Socket) CloseWrite() error {
	return s.control(func(fd int) error {
		if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
			return s.opError("shutdown", err)
		}
		return nil
	})
}

// Close closes the descriptor once no system call is using it, and the
// promoted file (which ends a wait in it).
func (s *h2Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.closed = true
	f := s.promoted
	s.promoted = nil
	err := unix.Close(s.fd)
	s.fd = -1
	s.mu.Unlock()
	if f != nil {
		f.Close()
	}
	if err != nil {
		return s.opError("close", err)
	}
	return nil
}

func (s *h2Socket) opError(op string, err error) error {
	network := "tcp"
	if s.laddr != nil {
		network = s.laddr.Network()
	}
	return &net.OpError{Op: op, Net: network, Source: s.laddr, Addr: s.raddr, Err: os.NewSyscallError(op, err)}
}
