//go:build linux

package hub

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// engineAvailable says whether this platform has the engine.
const engineAvailable = true

// The connection engine holds subscribers whose connections the hub took
// over from net/http (HTTP/1.x, plain or over TLS 1.3) with no goroutine
// and no buffer of their own: a parked subscriber costs its socket, its
// subscriber record and its epoll registration (and over TLS its traffic
// key, tlsrecord.go's sealer). It keeps the socket as a bare file descriptor
// (a duplicate of net/http's, whose net.Conn is closed): Go's connection,
// its poller state and its two addresses would be a quarter of a parked
// subscriber's heap.
//
//   - One epoll loop watches every socket for the client leaving, and for
//     writability after a write hit EAGAIN.
//   - Writer goroutines (one per CPU, at least two) take subscribers from a
//     ready queue, up to ringHeld at a time, and write everything queued
//     for each in one operation (a send, or a writev for several): the
//     operations of a turn, for all of them, go to the kernel in one
//     io_uring_enter (engine_ring_linux.go), or, where io_uring is missing
//     or refused, each in a system call of its own (write, writev). Over
//     TLS, a subscriber's turn is one write of the records its writer
//     seals it into, in its scratch. Under load, many events go out in one
//     operation.
//   - A sweeper, driven by the hub's clock every sweepEvery (a quarter of
//     the shorter of the heartbeat and the write timeout, at most a
//     second), sends heartbeats to idle subscribers and drops those stuck
//     on a full socket for longer than the write timeout.
//
// Epoll registrations carry a token, never the file descriptor: tokens are
// never reused, so an event that arrives after its connection was closed
// cannot reach another connection that got the same descriptor.
//
// The engine knows the subscribers it holds; a subscriber knows only its
// waker, the engine's record of it (engineSub), which it calls with its
// mutex held. Lock order: registry.mu, then subscriber.mu, then
// connEngine.mu (see the package doc).
type connEngine struct {
	cfg       engineConfig
	epfd      int
	wakefd    int // an eventfd in the epoll set (token 0): written to stop the loop at once
	writers   int
	stopSweep func()
	swept     []*engineSub // the sweep's, reused

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*engineSub // ready to write: queue[qhead:]
	qhead  int
	subs   map[uint64]*engineSub
	token  uint64
	closed bool

	wg   sync.WaitGroup
	stop chan struct{}

	rings atomic.Int32 // writers batching through an io_uring now (engine_ring_linux.go)
}

// engineConfig is what the engine needs of its hub.
type engineConfig struct {
	heartbeat, writeTimeout time.Duration
	clock                   clock // drives the sweep and stamps writes
	counters                *counters
	log                     *slog.Logger
	// release removes a subscriber whose connection the engine closed.
	release func(*subscriber, closeReason)
	// noRing makes a writer's io_uring fail to set up, as where the
	// kernel lacks or refuses it (tests of the fallback).
	noRing bool
}

// engineSub is the engine's record of a subscriber it holds, and the
// subscriber's waker. scheduled and waitingOut are guarded by the
// subscriber's mutex; out and finish belong to the writer that holds the
// record (scheduled is true then).
type engineSub struct {
	e          *connEngine
	s          *subscriber
	token      uint64
	fd         int  // the engine's own; closed once, by release or close
	scheduled  bool // in the ready queue, or being written
	waitingOut bool // the socket was full: waiting for EPOLLOUT
	// out is what was taken from the queue and not written yet. While a
	// writer holds the subscriber it is the writer's scratch slice; only
	// a rest the socket did not take is copied into a slice of its own.
	out       [][]byte
	finish    bool         // the close was taken: end the stream once out is written
	seal      *sealer      // TLS: seals out into records (tlsrecord.go); nil for plain HTTP
	sent      int          // TLS: bytes of the record at out's head written already
	lastWrite atomic.Int64 // the clock's, in Unix nanoseconds
	waitSince atomic.Int64 // when the socket filled up; 0 if it is not full
	needBeat  atomic.Bool
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
		subs: map[uint64]*engineSub{}, stop: make(chan struct{})}
	e.cond = sync.NewCond(&e.mu)
	e.wg.Add(1 + e.writers)
	go e.poll()
	for range e.writers {
		go e.write()
	}
	e.stopSweep = cfg.clock.every(sweepEvery(cfg.heartbeat, cfg.writeTimeout), e.sweep)
	return e, nil
}

// now is the engine's time, in Unix nanoseconds.
func (e *connEngine) now() int64 { return e.cfg.clock.Now().UnixNano() }

// adopt takes over conn for s, whose replay is done. From here on the
// engine writes to the connection and closes it: conn itself is closed
// once the engine holds a duplicate of its descriptor (the socket stays
// open, and leaves Go's poller). On an error the caller closes conn, which
// is harmless if the engine did already. seal, if not nil, is the TLS
// record layer conn carries (conn is then the TCP connection under it):
// what the engine writes is sealed with it.
func (e *connEngine) adopt(conn net.Conn, s *subscriber, seal *sealer) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrShuttingDown
	}
	e.token++
	token := e.token
	e.mu.Unlock()
	// The duplicate shares the open socket, non-blocking as Go set it
	// (accept4 with SOCK_NONBLOCK): writev relies on it.
	fd, err := dupSocket(conn)
	if err != nil {
		return err
	}
	conn.Close() // Go's poller forgets its descriptor; the socket lives on in fd
	// Until its epoll registration exists, s is held as if scheduled, so
	// that no writer can release it first.
	es := &engineSub{e: e, s: s, token: token, fd: fd, scheduled: true, seal: seal}
	es.lastWrite.Store(e.now())
	s.handTo(es)
	e.mu.Lock()
	e.subs[token] = es
	e.mu.Unlock()
	ev := event(unix.EPOLLIN|unix.EPOLLRDHUP, token)
	err = unix.EpollCtl(e.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	if err != nil {
		s.end(reasonWrite)
	}
	s.mu.Lock()
	es.scheduled = false
	if s.pendingLocked() {
		es.scheduleLocked()
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

// wakeLocked is es's subscriber telling it there is something to write,
// or that it ended: see waker.
func (es *engineSub) wakeLocked() { es.scheduleLocked() }

// scheduleLocked puts es in the ready queue unless it is there already or
// waits for its socket to drain (an ended subscriber goes anyway, to be
// closed). Its subscriber's mu must be held.
func (es *engineSub) scheduleLocked() {
	if es.scheduled || (es.waitingOut && !es.s.ended) {
		return
	}
	es.scheduled = true
	e := es.e
	e.mu.Lock()
	if e.qhead > 0 && e.qhead >= len(e.queue)/2 && len(e.queue) == cap(e.queue) {
		// Full, and half of it room at the front: move down rather than
		// grow (a queue popped from the front and never emptied would
		// otherwise grow for ever).
		n := copy(e.queue, e.queue[e.qhead:])
		clear(e.queue[n:])
		e.queue, e.qhead = e.queue[:n], 0
	}
	e.queue = append(e.queue, es)
	if len(e.queue)-e.qhead == 1 {
		e.cond.Signal()
	}
	e.mu.Unlock()
}

// next waits for a subscriber to write, or returns nil when stopping.
func (e *connEngine) next() *engineSub {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.queue) == e.qhead && !e.closed {
		e.cond.Wait()
	}
	if len(e.queue) == e.qhead {
		return nil
	}
	es := e.queue[e.qhead]
	e.queue[e.qhead] = nil
	e.qhead++
	if e.qhead == len(e.queue) {
		// Empty: start again at the front of the same array. (Popping
		// with e.queue[1:] made every fan-out reallocate the queue: 1.5
		// MB a second of garbage at 100,000 deliveries a second.)
		e.queue, e.qhead = e.queue[:0], 0
	} else {
		e.cond.Signal() // another writer can take the next one
	}
	return es
}

// A scratch is a writer's own buffers, reused for every subscriber it
// serves: a write allocates nothing, and no subscriber keeps a buffer
// sized by its busiest moment. In a batched turn (engine_ring_linux.go),
// out holds the frames of every subscriber the turn writes to, each one's
// out a capped piece of it.
type scratch struct {
	items  []item
	iov    []unix.Iovec
	out    [][]byte
	sealed []byte // TLS records, sealed for one write
	batch  recordBatch
}

// write is a writer goroutine.
func (e *connEngine) write() {
	defer e.wg.Done()
	sc := &scratch{iov: make([]unix.Iovec, 0, 64)}
	if !e.writeBatched(sc) {
		return
	}
	for {
		es := e.next()
		if es == nil {
			return
		}
		e.serve(es, sc)
	}
}

// serve writes what is queued for s, until its queue is empty, its socket
// is full, or it ends. A turn with one event to write takes s's lock
// twice: to take the event, and to find the queue empty and park es
// (readyOrPark).
func (e *connEngine) serve(es *engineSub, sc *scratch) {
	written := 0
	idle := false // a heartbeat was due: over TLS, the cipher goes to rest after it
	defer func() { e.cfg.counters.bytesWritten.Add(int64(written)) }()
	for {
		if len(es.out) == 0 {
			sc.out = sc.out[:0] // what was written is nil already (advance)
		}
		if !e.take(es, sc, &idle) {
			return
		}
		var n int
		var err error
		if es.seal != nil {
			n, err = es.writeSealed(sc)
		} else {
			n, sc.iov, err = writev(es.fd, es.out, sc.iov)
		}
		written += n
		if !e.wrote(es, n, err) {
			return
		}
	}
}

// take makes es.out what es has to write next: the rest of its last
// write, or what its subscriber has queued (appended to sc.out, which
// es.out then aliases, or a heartbeat). It reports false once es has left
// this writer: parked (nothing to write), or released (it ended); es is
// then no longer the writer's to touch. idle is the writer's turn state
// for es (see serve).
func (e *connEngine) take(es *engineSub, sc *scratch, idle *bool) bool {
	s := es.s
	for {
		// An ended subscriber goes at once, whatever is still pending: a
		// slow one may never drain, and a resuming client loses nothing.
		// With nothing held over, readyOrPark reports the end.
		if len(es.out) > 0 || es.finish {
			if reason := s.endReason(); reason != 0 {
				e.release(es, reason)
				return false
			}
		}
		if len(es.out) == 0 && !es.finish {
			// es.out may alias this writer's scratch: once parked, es is
			// another writer's to take.
			es.out = nil
			if *idle && es.seal != nil {
				// Quiet for a heartbeat's interval: keep the key only
				// (the next record builds the cipher again).
				es.seal.rest()
				*idle = false
			}
			var parked bool
			var err error
			sc.items, parked, err = s.readyOrPark(sc.items[:0], es.parkLocked)
			if parked {
				return false
			}
			start := len(sc.out)
			for i, it := range sc.items {
				sc.out = append(sc.out, it.wire.Bytes())
				sc.items[i] = item{}
			}
			switch {
			case err == io.EOF:
				es.finish = true
			case err != nil: // ended meanwhile
				clear(sc.out[start:])
				sc.out = sc.out[:start]
				e.release(es, s.endReason())
				return false
			}
			if len(sc.out) == start && es.needBeat.Swap(false) {
				sc.out = append(sc.out, heartbeat)
				*idle = true
			}
			// Capped: nothing appended to es.out can reach into what
			// sc.out holds for another subscriber.
			es.out = sc.out[start:len(sc.out):len(sc.out)]
		}
		if len(es.out) == 0 {
			if es.finish {
				e.release(es, s.finished)
				return false
			}
			continue // nothing to write after all (no data, or not s's): look again
		}
		return true
	}
}

// wrote accounts for a write of es.out that took n bytes and returned
// err. It reports false once es has left this writer: waiting for
// EPOLLOUT (the socket is full), or released (the write failed).
func (e *connEngine) wrote(es *engineSub, n int, err error) bool {
	s := es.s
	es.out = advance(es.out, n)
	switch {
	case errors.Is(err, unix.EAGAIN):
		// The rest waits in a slice of its own (rarely: a full socket),
		// and the scratch lets go of its frames.
		rest := slices.Clone(es.out)
		clear(es.out)
		es.out = rest
		es.waitSince.Store(e.now())
		s.mu.Lock()
		if s.ended {
			// It ended while this writer held it (its wake-up found it
			// scheduled): nothing would schedule it again, so it is
			// released by take, now.
			s.mu.Unlock()
			return true
		}
		es.waitingOut, es.scheduled = true, false
		s.mu.Unlock()
		// es is no longer this writer's: if it ends now, another
		// writer may release it and close its descriptor (see
		// watchLocked).
		e.mu.Lock()
		e.watchLocked(es, unix.EPOLLOUT)
		e.mu.Unlock()
		return false
	case err != nil:
		s.end(reasonWrite)
		e.release(es, reasonWrite)
		return false
	}
	// A write is a sign of life: a heartbeat the sweep asked for
	// meanwhile is not needed. (Loads first: stores that change
	// nothing would still dirty the cache line.)
	es.lastWrite.Store(e.now())
	if es.waitSince.Load() != 0 {
		es.waitSince.Store(0)
	}
	if es.needBeat.Load() {
		es.needBeat.Store(false)
	}
	return true
}

// parkLocked is readyOrPark's park for es: with nothing queued and no
// heartbeat due, es leaves its writer, and the next frame queued (or the
// sweep) schedules it again. s.mu is held.
func (es *engineSub) parkLocked() bool {
	if es.needBeat.Load() {
		return false
	}
	es.scheduled = false
	return true
}

// writev writes bufs (at most 1024 of them) with one system call, through
// iov, which it returns for reuse: write for one buffer (the common case at
// modest rates, one event per subscriber per turn; it spares the kernel
// importing a vector), writev for more. (unix.Writev would allocate its own
// vector past 8 buffers, on every call: under load a writer sends dozens
// at once.)
//
// The call is raw: the socket is non-blocking, so it returns as soon as
// the kernel has copied what fits, and the goroutine keeps its P. Through
// syscall.Syscall, the runtime marks the P as in a system call; the
// kernel's TCP work for a small loopback write often outlasts sysmon's
// 20 µs tick, and sysmon then hands the P to another thread and keeps
// polling at its fastest: at 40,000 writes a second that was 1,800 sysmon
// wake-ups a second and 6% of the hub's CPU (perf, B7 one topic).
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
		var n uintptr
		var errno syscall.Errno
		if len(iov) == 1 {
			n, _, errno = syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(iov[0].Base)), uintptr(iov[0].Len))
		} else {
			n, _, errno = syscall.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		}
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
// It is called once per subscriber: the writer that releases es keeps it
// marked scheduled, so no writer takes it again.
func (e *connEngine) release(es *engineSub, reason closeReason) {
	e.mu.Lock()
	delete(e.subs, es.token)
	e.mu.Unlock()
	unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, es.fd, nil)
	if reason == reasonSlow || reason == reasonWrite {
		unix.SetsockoptLinger(es.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	} else {
		es.closeNotify(reason)
	}
	unix.Close(es.fd)
	clear(es.out) // the scratch, if a writer held s: its frames are not s's any more
	es.out = nil
	e.cfg.release(es.s, reason)
}

// closeNotify ends a TLS stream that ends normally with the close_notify
// alert, so that clients that insist on one (curl) see a clean end. It is
// written only if the socket takes it at once and no record was cut
// short; a client that left gets none.
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
			es, gone, writable := e.handle(&events[i], discard[:])
			switch {
			case es == nil: // released already
			case gone:
				es.s.end(reasonClient)
			case writable:
				es.waitSince.Store(0)
				es.s.mu.Lock()
				es.waitingOut = false
				es.scheduleLocked()
				es.s.mu.Unlock()
			}
		}
	}
}

// handle makes ev's system calls on its subscriber's socket, and returns
// the subscriber (nil if released already), whether its client left, and
// whether its full socket drained. It makes them under e.mu, having found
// the subscriber registered, as every call on a descriptor that es is not
// held for must be: release unregisters es under e.mu before it closes
// the descriptor, so under e.mu the number is still es's socket. Outside
// it a writer could release es meanwhile and a new connection get the
// same number: a read would take that connection's bytes, and a MOD would
// give its events es's dead token, losing its wake-ups and its end.
func (e *connEngine) handle(ev *unix.EpollEvent, discard []byte) (es *engineSub, gone, writable bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	es = e.subs[tokenOf(ev)]
	if es == nil {
		return nil, false, false
	}
	gone = ev.Events&(unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0
	if !gone && ev.Events&unix.EPOLLIN != 0 {
		// A subscriber has nothing to say; a read returning 0 is its end.
		// Over TLS the engine cannot read records (it holds no client
		// key), and a client has nothing to send but close_notify or a
		// KeyUpdate the engine could not answer: any byte is its end.
		k, err := unix.Read(es.fd, discard)
		gone = k == 0 || (k > 0 && es.seal != nil) || (err != nil && !errors.Is(err, unix.EAGAIN))
	}
	if gone {
		// Stop watching it at once: its events are level-triggered and
		// would fire on every wait until a writer releases it, which under
		// load takes a while (a profile of TLS accepts found this spin at
		// 40% of herd's CPU).
		unix.EpollCtl(e.epfd, unix.EPOLL_CTL_DEL, es.fd, nil)
		return es, true, false
	}
	if ev.Events&unix.EPOLLOUT != 0 {
		e.watchLocked(es, 0)
		return es, false, true
	}
	return es, false, false
}

// watchLocked sets what epoll watches es's socket for: the client leaving,
// and also writability if out is EPOLLOUT. e.mu must be held (see handle);
// a subscriber released already is left alone.
func (e *connEngine) watchLocked(es *engineSub, out uint32) {
	if e.subs[es.token] != es {
		return
	}
	ev := event(unix.EPOLLIN|unix.EPOLLRDHUP|out, es.token)
	unix.EpollCtl(e.epfd, unix.EPOLL_CTL_MOD, es.fd, &ev)
}

// sweep sends heartbeats to the streams silent for the heartbeat, and
// ends those whose socket has been full for longer than the write
// timeout, as of now. The clock calls it every sweepEvery, from one
// goroutine, until close.
func (e *connEngine) sweep(now time.Time) {
	subs := e.swept[:0]
	e.mu.Lock()
	for _, es := range e.subs {
		subs = append(subs, es)
	}
	e.mu.Unlock()
	defer func() {
		clear(subs) // hold no released stream until the next sweep
		e.swept = subs[:0]
	}()
	beat := e.cfg.heartbeat.Nanoseconds()
	deadline := e.cfg.writeTimeout.Nanoseconds()
	ns := now.UnixNano()
	for _, es := range subs {
		s := es.s
		if ws := es.waitSince.Load(); ws != 0 && ns-ws > deadline {
			s.end(reasonWrite)
		} else if ns-es.lastWrite.Load() >= beat {
			es.needBeat.Store(true)
			s.mu.Lock()
			es.scheduleLocked()
			s.mu.Unlock()
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
	e.stopSweep()
	unix.Write(e.wakefd, []byte{1, 0, 0, 0, 0, 0, 0, 0}) // the poll loop returns and sees stop
	e.wg.Wait()                                          // the writers first release every subscriber left in the queue
	e.mu.Lock()
	left := make([]*engineSub, 0, len(e.subs))
	for _, es := range e.subs {
		left = append(left, es)
	}
	e.mu.Unlock()
	for _, es := range left {
		es.s.end(reasonShutdown)
		es.closeNotify(reasonShutdown)
		unix.Close(es.fd) // never released: its writer had not taken it
		e.cfg.release(es.s, reasonShutdown)
	}
	unix.Close(e.epfd)
	unix.Close(e.wakefd)
}

// dupSocket duplicates conn's descriptor (close-on-exec); conn stays
// open, for the caller to close.
func dupSocket(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("hub: connection has no file descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if cerr := raw.Control(func(f uintptr) { fd, err = dupCloexec(int(f)) }); cerr != nil || err != nil {
		return -1, errors.Join(cerr, err)
	}
	return fd, nil
}

// dupCloexec duplicates fd (close-on-exec), as a raw system call: it
// never waits, and under a burst of connections the ordinary kind let the
// runtime hand its processor to a new thread whenever one was slow to
// return, until the hub kept 80-100 idle threads where it needs about ten.
func dupCloexec(fd int) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}
