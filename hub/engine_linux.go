//go:build linux

package hub

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/herd-sse/herd/sse"
	"golang.org/x/sys/unix"
)

// engineAvailable says whether this platform has the engine.
const engineAvailable = true

// The connection engine holds subscribers whose connections the hub took
// over from net/http (HTTP/1.x, plain or over TLS 1.3) with no goroutine
// and no buffer of their own: a parked subscriber costs its socket, its
// subscriber record and its epoll registration (and over TLS its key).
//
//   - One epoll loop watches every socket for the client leaving, and for
//     writability after a write hit EAGAIN.
//   - Writer goroutines (one per CPU, at least two) take subscribers from a ready queue
//     and write everything queued for each with one writev (over TLS, one
//     write of the records they seal it into): under load, many events go
//     out in one system call.
//   - A sweeper, once a second, sends heartbeats to idle subscribers and
//     drops those stuck on a full socket for longer than the write timeout.
//
// Epoll registrations carry a token, never the file descriptor: tokens are
// never reused, so an event that arrives after its connection was closed
// cannot reach another connection that got the same descriptor.
//
// Lock order: registry.mu, then subscriber.mu, then connEngine.mu (see
// the package doc).
type connEngine struct {
	cfg     engineConfig
	epfd    int
	wakefd  int // an eventfd in the epoll set (token 0): written to stop the loop at once
	writers int

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*subscriber // ready to write
	subs   map[uint64]*subscriber
	token  uint64
	closed bool

	wg   sync.WaitGroup
	stop chan struct{}
}

// engineConfig is what the engine needs of its hub.
type engineConfig struct {
	heartbeat, writeTimeout time.Duration
	counters                *counters
	log                     *slog.Logger
	// release removes a subscriber whose connection the engine closed.
	release func(*subscriber, closeReason)
}

// engineSub is a subscriber's state in the engine. scheduled and
// waitingOut are guarded by the subscriber's mutex; out and finish belong
// to the writer that holds the subscriber (scheduled is true then).
type engineSub struct {
	e          *connEngine
	token      uint64
	conn       net.Conn
	fd         int
	scheduled  bool     // in the ready queue, or being written
	waitingOut bool     // the socket was full: waiting for EPOLLOUT
	out        [][]byte // taken from the queue, not written yet
	finish     bool     // the close was taken: end the stream once out is written
	seal       *sealer  // TLS: seals out into records (tlsrecord.go); nil for plain HTTP
	sent       int      // TLS: bytes of the record at out's head written already
	lastWrite  atomic.Int64
	waitSince  atomic.Int64 // when the socket filled up; 0 if it is not full
	needBeat   atomic.Bool
}

func newEngine(cfg engineConfig) (*connEngine, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		ev := event(unix.EPOLLIN, 0) // subscribers' tokens start at 1
		err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev)
	}
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	e := &connEngine{cfg: cfg, epfd: epfd, wakefd: wakefd, writers: max(2, runtime.GOMAXPROCS(0)),
		subs: map[uint64]*subscriber{}, stop: make(chan struct{})}
	e.cond = sync.NewCond(&e.mu)
	e.wg.Add(2 + e.writers)
	go e.poll()
	go e.sweep()
	for range e.writers {
		go e.write()
	}
	return e, nil
}

// adopt takes over conn for s, whose replay is done. From here on the
// engine writes to the connection and closes it. seal, if not nil, is the
// TLS record layer conn carries: what the engine writes is sealed with it.
func (e *connEngine) adopt(conn net.Conn, s *subscriber, seal *sealer) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return errors.New("hub: connection has no file descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	raw.Control(func(f uintptr) { fd = int(f) })
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrShuttingDown
	}
	e.token++
	token := e.token
	e.mu.Unlock()
	// Until its epoll registration exists, s is held as if scheduled, so
	// that no writer can release it first.
	es := &engineSub{e: e, token: token, conn: conn, fd: fd, scheduled: true, seal: seal}
	es.lastWrite.Store(time.Now().UnixNano())
	s.mu.Lock()
	s.eng = es
	s.mu.Unlock()
	e.mu.Lock()
	e.subs[token] = s
	e.mu.Unlock()
	ev := event(unix.EPOLLIN|unix.EPOLLRDHUP, token)
	err = unix.EpollCtl(e.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	if err != nil {
		s.end(reasonWrite)
	}
	s.mu.Lock()
	es.scheduled = false
	if s.ended || len(s.queue) > s.head {
		es.scheduleLocked(s)
	}
	s.mu.Unlock()
	return err
}

// event is an epoll registration for events, carrying token in its 64
// bits of user data (Fd and Pad, on every Linux architecture).
func event(events uint32, token uint64) unix.EpollEvent {
	return unix.EpollEvent{Events: events, Fd: int32(uint32(token)), Pad: int32(uint32(token >> 32))}
}

func tokenOf(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// scheduleLocked puts s in the ready queue unless it is there already or
// waits for its socket to drain (an ended subscriber goes anyway, to be
// closed). s.mu must be held.
func (es *engineSub) scheduleLocked(s *subscriber) {
	if es.scheduled || (es.waitingOut && !s.ended) {
		return
	}
	es.scheduled = true
	e := es.e
	e.mu.Lock()
	e.queue = append(e.queue, s)
	if len(e.queue) == 1 {
		e.cond.Signal()
	}
	e.mu.Unlock()
}

// next waits for a subscriber to write, or returns nil when stopping.
func (e *connEngine) next() *subscriber {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.queue) == 0 && !e.closed {
		e.cond.Wait()
	}
	if len(e.queue) == 0 {
		return nil
	}
	s := e.queue[0]
	e.queue[0] = nil
	e.queue = e.queue[1:]
	if len(e.queue) > 0 {
		e.cond.Signal() // another writer can take the next one
	}
	return s
}

// heartbeat is what an idle stream is sent, as sse.Stream sends it.
var heartbeat = sse.CommentFrame("").Bytes()

// A scratch is a writer's own buffers, reused for every subscriber it
// serves.
type scratch struct {
	items  []item
	iov    []unix.Iovec
	sealed []byte // TLS records, sealed for one write
	batch  recordBatch
}

// write is a writer goroutine.
func (e *connEngine) write() {
	defer e.wg.Done()
	sc := &scratch{iov: make([]unix.Iovec, 0, 64)}
	for {
		s := e.next()
		if s == nil {
			return
		}
		e.serve(s, sc)
	}
}

// serve writes what is queued for s, until its queue is empty, its socket
// is full, or it ends.
func (e *connEngine) serve(s *subscriber, sc *scratch) {
	items, iov := sc.items, sc.iov
	defer func() { sc.items, sc.iov = items, iov }()
	es := s.eng
	written := 0
	idle := false // a heartbeat was due
	defer func() { e.cfg.counters.bytesWritten.Add(int64(written)) }()
	for {
		// An ended subscriber goes at once, whatever is still pending: a
		// slow one may never drain, and a resuming client loses nothing.
		s.mu.Lock()
		ended, reason := s.ended, s.reason
		s.mu.Unlock()
		if ended {
			e.release(s, reason)
			return
		}
		if len(es.out) == 0 && !es.finish {
			var err error
			items, err = s.ready(items[:0])
			for i, it := range items {
				es.out = append(es.out, it.wire.Bytes())
				items[i] = item{}
			}
			switch {
			case err == io.EOF:
				es.finish = true
			case err != nil: // ended meanwhile: released on the next turn
				continue
			}
			if len(es.out) == 0 && es.needBeat.Swap(false) {
				es.out = append(es.out, heartbeat)
				idle = true
			}
		}
		if len(es.out) == 0 {
			if es.finish {
				e.release(s, s.finished)
				return
			}
			if idle && es.seal != nil {
				es.seal.rest() // quiet for a heartbeat's interval: keep the key only
			}
			s.mu.Lock()
			if s.ended || len(s.queue) > s.head {
				s.mu.Unlock()
				continue
			}
			es.scheduled = false
			s.mu.Unlock()
			return
		}
		var n int
		var err error
		if es.seal != nil {
			n, err = es.writeSealed(sc)
		} else {
			n, iov, err = writev(es.fd, es.out, iov)
		}
		written += n
		es.out = advance(es.out, n)
		switch {
		case errors.Is(err, unix.EAGAIN):
			es.waitSince.Store(time.Now().UnixNano())
			s.mu.Lock()
			if s.ended { // while it was written: released at the top
				s.mu.Unlock()
				continue
			}
			es.waitingOut, es.scheduled = true, false
			s.mu.Unlock()
			ev := event(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLOUT, es.token)
			unix.EpollCtl(e.epfd, unix.EPOLL_CTL_MOD, es.fd, &ev)
			return
		case err != nil:
			s.end(reasonWrite)
			e.release(s, reasonWrite)
			return
		}
		es.lastWrite.Store(time.Now().UnixNano())
		es.waitSince.Store(0)
	}
}

// writev writes bufs (at most 1024 of them) with one system call, through
// iov, which it returns for reuse. (unix.Writev would allocate its own
// vector past 8 buffers, on every call: under load a writer sends dozens
// at once.)
func writev(fd int, bufs [][]byte, iov []unix.Iovec) (int, []unix.Iovec, error) {
	iov = iov[:0]
	for _, b := range bufs[:min(len(bufs), 1024)] {
		if len(b) > 0 {
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
	}
	if len(iov) == 0 {
		return 0, iov, nil
	}
	for {
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return 0, iov, errno
		}
		return int(n), iov, nil
	}
}

// writeSealed writes es.out as TLS records sealed into sc, and returns
// how much of es.out went out in whole records (see sealer.writeRecords).
func (es *engineSub) writeSealed(sc *scratch) (int, error) {
	var n int
	var err error
	n, sc.sealed, err = es.seal.writeRecords(func(b []byte) (int, error) {
		for {
			n, err := unix.Write(es.fd, b)
			if err != unix.EINTR {
				return max(n, 0), err
			}
		}
	}, es.out, &es.sent, sc.sealed, &sc.batch)
	return n, err
}

// release closes s's connection and removes it. A stream that ended
// normally (its topics closed, the hub shutting down, the client gone) is
// closed gracefully, so that the client sees a clean end and resumes; one
// cut off (slow, failed writes) is reset, freeing its socket buffers.
func (e *connEngine) release(s *subscriber, reason closeReason) {
	es := s.eng
	e.mu.Lock()
	delete(e.subs, es.token)
	e.mu.Unlock()
	unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, es.fd, nil)
	if reason == reasonSlow || reason == reasonWrite {
		if tc, ok := es.conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	} else {
		es.closeNotify(reason)
	}
	es.conn.Close()
	es.out = nil
	e.cfg.release(s, reason)
}

// closeNotify ends a TLS stream that ends normally with the close_notify
// alert, so that clients that insist on one (curl) see a clean end. It is
// written only if the socket takes it at once and no record is cut short;
// a client that left gets none.
func (es *engineSub) closeNotify(reason closeReason) {
	if es.seal == nil || es.sent != 0 || reason == reasonClient {
		return
	}
	var buf [64]byte
	unix.Write(es.fd, es.seal.closeNotify(buf[:0]))
}

// poll is the epoll loop.
func (e *connEngine) poll() {
	defer e.wg.Done()
	events := make([]unix.EpollEvent, 256)
	var discard [512]byte
	for {
		n, err := unix.EpollWait(e.epfd, events, -1)
		select {
		case <-e.stop:
			return
		default:
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			e.cfg.log.Error("connection engine: epoll", "err", err)
			return
		}
		for i := range max(n, 0) {
			ev := &events[i]
			e.mu.Lock()
			s := e.subs[tokenOf(ev)]
			e.mu.Unlock()
			if s == nil {
				continue
			}
			es := s.eng
			gone := ev.Events&(unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0
			if !gone && ev.Events&unix.EPOLLIN != 0 {
				// A subscriber has nothing to say; a read returning 0 is its end.
				// Over TLS the engine cannot read records (it holds no client
				// key), and a client has nothing to send but close_notify or
				// a KeyUpdate the engine could not answer: any byte is its end.
				if k, err := unix.Read(es.fd, discard[:]); k == 0 || (k > 0 && es.seal != nil) || (err != nil && !errors.Is(err, unix.EAGAIN)) {
					gone = true
				}
			}
			if gone {
				// Stop watching it at once: its events are level-triggered
				// and would fire on every wait until a writer releases it,
				// which under load (TLS handshakes) takes a while. Its
				// descriptor is still its own while it is registered.
				e.mu.Lock()
				if e.subs[tokenOf(ev)] == s {
					unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, es.fd, nil)
				}
				e.mu.Unlock()
				s.end(reasonClient)
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				mod := event(unix.EPOLLIN|unix.EPOLLRDHUP, es.token)
				unix.EpollCtl(e.epfd, unix.EPOLL_CTL_MOD, es.fd, &mod)
				es.waitSince.Store(0)
				s.mu.Lock()
				es.waitingOut = false
				es.scheduleLocked(s)
				s.mu.Unlock()
			}
		}
	}
}

// sweep sends heartbeats and enforces the write timeout, once a second.
func (e *connEngine) sweep() {
	defer e.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var subs []*subscriber
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			subs = subs[:0]
			e.mu.Lock()
			for _, s := range e.subs {
				subs = append(subs, s)
			}
			e.mu.Unlock()
			beat := e.cfg.heartbeat.Nanoseconds()
			deadline := e.cfg.writeTimeout.Nanoseconds()
			ns := now.UnixNano()
			for i, s := range subs {
				es := s.eng
				if ws := es.waitSince.Load(); ws != 0 && ns-ws > deadline {
					s.end(reasonWrite)
				} else if ns-es.lastWrite.Load() >= beat {
					es.needBeat.Store(true)
					s.mu.Lock()
					es.scheduleLocked(s)
					s.mu.Unlock()
				}
				subs[i] = nil
			}
		}
	}
}

// parked returns how many subscribers the engine holds; e may be nil.
func (e *connEngine) parked() int {
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}

// close stops the engine once its subscribers are gone (the hub ended
// them): connections still held are closed.
func (e *connEngine) close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.cond.Broadcast()
	e.mu.Unlock()
	close(e.stop)
	unix.Write(e.wakefd, []byte{1, 0, 0, 0, 0, 0, 0, 0}) // the poll loop returns and sees stop
	e.wg.Wait()                                          // the writers first release every subscriber left in the queue
	e.mu.Lock()
	left := make([]*subscriber, 0, len(e.subs))
	for _, s := range e.subs {
		left = append(left, s)
	}
	e.mu.Unlock()
	for _, s := range left {
		s.end(reasonShutdown)
		s.eng.closeNotify(reasonShutdown)
		s.eng.conn.Close()
		e.cfg.release(s, reasonShutdown)
	}
	unix.Close(e.epfd)
	unix.Close(e.wakefd)
}
