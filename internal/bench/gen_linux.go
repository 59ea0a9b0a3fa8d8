//go:build linux

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A Gen holds many SSE subscriptions open against one hub, with no
// goroutine and almost no memory per connection: raw non-blocking sockets
// bound to explicit (127.x.y.z, port) pairs (so that binding costs nothing,
// unlike the kernel's ephemeral port search), polled by a few epoll loops
// on locked OS threads. It parses every event, measures its latency from
// the scheduled publish time stamped in its data, and counts losses and
// duplicates per subscriber.
type Gen struct {
	Hubs    []netip.AddrPort   // where to connect: subscriber i to Hubs[i%len(Hubs)]
	Request func(i int) []byte // subscriber i's HTTP request
	Topic   func(i int) int    // subscriber i's topic, for expectations
	Slow    func(i int) bool   // subscriber i never reads (nil: none)
	RcvBuf  int                // SO_RCVBUF for slow subscribers (0: default)
	Loops   int                // epoll loops; 0 means 2

	loops   []*loop
	wg      sync.WaitGroup
	stop    atomic.Bool
	mu      sync.Mutex
	conns   []*conn
	srcBase uint32
	openSeq int
}

// Counters are the generator's running totals.
type Counters struct {
	Open       int64 // connections that got a 200 and are streaming
	Failed     int64 // connections refused, or answered other than 200
	Dropped    int64 // streams that ended (by the hub or the network)
	Deliveries int64 // events received
	Connecting int64
}

type loop struct {
	epfd    int
	add     chan *conn
	hist    Hist
	buf     []byte
	conns   map[int]*conn
	open    atomic.Int64
	failed  atomic.Int64
	dropped atomic.Int64
	events  atomic.Int64
	pending atomic.Int64
	first   Hist // time to the first byte of the stream, per connection
}

type connState uint8

const (
	stConnecting connState = iota
	stSending
	stHeaders
	stBody
	stDone
)

type conn struct {
	fd        int
	i         int
	topic     int
	slow      bool
	state     connState
	req       []byte
	started   time.Time
	pending   []byte // raw bytes not parsed yet: a partial header or chunk size line
	line      []byte // a partial body line
	chunked   bool
	chunkLeft int      // body bytes left in the current chunk; -1 before its size line
	seen      []uint64 // bitmap of the topic sequence numbers received
	ended     bool     // the stream ended before Stop
	dups      int
	received  int
}

// Start starts the event loops.
func (g *Gen) Start() error {
	n := g.Loops
	if n <= 0 {
		n = 2
	}
	g.srcBase = rand.Uint32N(200) + 20
	for range n {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("epoll: %w", err)
		}
		l := &loop{epfd: epfd, add: make(chan *conn, 4096), buf: make([]byte, 64<<10), conns: map[int]*conn{}}
		g.loops = append(g.loops, l)
		g.wg.Add(1)
		go g.run(l)
	}
	return nil
}

// source returns the local address of the i-th connection: 127.x.y.z with
// x chosen per run, 50,000 ports per address.
func (g *Gen) source(i int) (ip [4]byte, port int) {
	a := i / 50_000
	return [4]byte{127, byte(g.srcBase), byte(a / 250), byte(a%250 + 1)}, 10_000 + i%50_000
}

// Open opens n more subscriptions, at most rate per second (0: as fast as
// possible) with at most inflight connecting at once.
func (g *Gen) Open(n int, rate float64, inflight int) error {
	if inflight <= 0 {
		inflight = 128
	}
	start := time.Now()
	for k := range n {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(k) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		for g.connecting() >= int64(inflight) {
			time.Sleep(200 * time.Microsecond)
		}
		g.mu.Lock()
		i := g.openSeq
		g.openSeq++
		g.mu.Unlock()
		if err := g.dial(i); err != nil {
			return err
		}
	}
	return nil
}

func (g *Gen) connecting() int64 {
	var n int64
	for _, l := range g.loops {
		n += l.pending.Load()
	}
	return n
}

func (g *Gen) dial(i int) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w (the open-file limit is %d)", err, fileLimit())
	}
	c := &conn{fd: fd, i: i, req: g.Request(i), chunkLeft: -1, started: time.Now()}
	if g.Topic != nil {
		c.topic = g.Topic(i)
	}
	if g.Slow != nil && g.Slow(i) {
		c.slow = true
		if g.RcvBuf > 0 {
			syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, g.RcvBuf)
		}
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	ip, port := g.source(i)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: ip, Port: port}); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("bind %v:%d: %w", ip, port, err)
	}
	to := g.Hubs[i%len(g.Hubs)]
	hub := &syscall.SockaddrInet4{Addr: to.Addr().As4(), Port: int(to.Port())}
	if err := syscall.Connect(fd, hub); err != nil && !errors.Is(err, syscall.EINPROGRESS) {
		syscall.Close(fd)
		return fmt.Errorf("connect: %w", err)
	}
	l := g.loops[i%len(g.loops)]
	l.pending.Add(1)
	g.mu.Lock()
	g.conns = append(g.conns, c)
	g.mu.Unlock()
	l.add <- c
	return nil
}

func (g *Gen) run(l *loop) {
	defer g.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events := make([]syscall.EpollEvent, 256)
	for !g.stop.Load() {
	drain:
		for {
			select {
			case c := <-l.add:
				l.conns[c.fd] = c
				syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, c.fd,
					&syscall.EpollEvent{Events: syscall.EPOLLOUT | syscall.EPOLLRDHUP, Fd: int32(c.fd)})
			default:
				break drain
			}
		}
		n, err := syscall.EpollWait(l.epfd, events, 5)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return
		}
		now := time.Now()
		for _, ev := range events[:max(n, 0)] {
			c := l.conns[int(ev.Fd)]
			if c == nil {
				continue
			}
			g.handle(l, c, ev.Events, now)
		}
	}
	for fd, c := range l.conns {
		if c.state != stDone {
			syscall.Close(fd)
		}
	}
	syscall.Close(l.epfd)
}

func (g *Gen) handle(l *loop, c *conn, ev uint32, now time.Time) {
	switch c.state {
	case stConnecting, stSending:
		if ev&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
			g.finish(l, c, true)
			return
		}
		if c.state == stConnecting {
			if e, _ := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); e != 0 {
				g.finish(l, c, true)
				return
			}
			c.state = stSending
		}
		n, err := syscall.Write(c.fd, c.req)
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			g.finish(l, c, true)
			return
		}
		if n > 0 {
			c.req = c.req[n:]
		}
		if len(c.req) == 0 {
			c.state = stHeaders
			c.req = nil
			syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd,
				&syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)})
		}
	case stHeaders, stBody:
		if c.slow && c.state == stBody {
			if ev&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				g.finish(l, c, false)
			}
			return
		}
		n, err := syscall.Read(c.fd, l.buf)
		if n <= 0 {
			if err == nil || !errors.Is(err, syscall.EAGAIN) {
				g.finish(l, c, false)
			}
			return
		}
		if !g.feed(l, c, l.buf[:n], now) {
			g.finish(l, c, c.state == stHeaders)
		}
	}
}

// finish closes c; failed says it never got to stream.
func (g *Gen) finish(l *loop, c *conn, failed bool) {
	switch {
	case c.state == stDone:
		return
	case c.state <= stHeaders || failed:
		l.pending.Add(-1)
		l.failed.Add(1)
	default:
		l.open.Add(-1)
		l.dropped.Add(1)
		c.ended = true
	}
	c.state = stDone
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	syscall.Close(c.fd)
	c.pending, c.line = nil, nil
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	chunkedH = []byte("transfer-encoding: chunked")
	marker   = []byte("hb:")
)

// feed parses bytes received on c. It returns false if the response is
// not a 200 event stream.
func (g *Gen) feed(l *loop, c *conn, data []byte, now time.Time) bool {
	if len(c.pending) > 0 {
		data = append(c.pending, data...)
		c.pending = nil
	}
	if c.state == stHeaders {
		i := bytes.Index(data, crlfcrlf)
		if i < 0 {
			c.pending = append([]byte(nil), data...)
			return len(c.pending) < 16<<10
		}
		head := data[:i]
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) && !bytes.HasPrefix(head, []byte("HTTP/1.0 200")) {
			return false
		}
		c.chunked = bytes.Contains(bytes.ToLower(head), chunkedH)
		c.state = stBody
		l.pending.Add(-1)
		l.open.Add(1)
		l.first.Record(now.Sub(c.started))
		if c.slow {
			syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd,
				&syscall.EpollEvent{Events: syscall.EPOLLRDHUP, Fd: int32(c.fd)})
		}
		data = data[i+4:]
	}
	if !c.chunked {
		c.lines(l, data, now)
		return true
	}
	for len(data) > 0 {
		if c.chunkLeft < 0 { // a chunk size line, after the CRLF that ends the previous chunk
			data = bytes.TrimLeft(data, "\r\n")
			j := bytes.IndexByte(data, '\n')
			if j < 0 {
				c.pending = append(c.pending, data...)
				return true
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(data[:j], []byte(";"), 2)[0])), 16, 64)
			if err != nil {
				return false
			}
			if size == 0 {
				return true // the stream ended; the connection close comes next
			}
			c.chunkLeft = int(size)
			data = data[j+1:]
			continue
		}
		k := min(c.chunkLeft, len(data))
		c.lines(l, data[:k], now)
		c.chunkLeft -= k
		data = data[k:]
		if c.chunkLeft == 0 {
			c.chunkLeft = -1
		}
	}
	return true
}

// lines parses body bytes line by line, keeping a partial last line. Only
// lines carrying the bench marker count: "hb:<topic seq>:<scheduled ns>:".
func (c *conn) lines(l *loop, body []byte, now time.Time) {
	if len(c.line) > 0 {
		body = append(c.line, body...)
		c.line = nil
	}
	for {
		j := bytes.IndexByte(body, '\n')
		if j < 0 {
			if len(body) > 0 {
				c.line = append(c.line[:0], body...)
			}
			return
		}
		line := body[:j]
		body = body[j+1:]
		if k := bytes.Index(line, marker); k >= 0 {
			c.event(l, line[k+len(marker):], now)
		}
	}
}

func (c *conn) event(l *loop, rest []byte, now time.Time) {
	a := bytes.IndexByte(rest, ':')
	if a < 0 {
		return
	}
	b := bytes.IndexByte(rest[a+1:], ':')
	if b < 0 {
		return
	}
	seq, err1 := strconv.Atoi(string(rest[:a]))
	ns, err2 := strconv.ParseInt(string(rest[a+1:a+1+b]), 10, 64)
	if err1 != nil || err2 != nil || seq < 0 {
		return
	}
	// Publishers race one another, so events may arrive out of the order
	// they were scheduled in: count them in a bitmap, not by order.
	for len(c.seen) <= seq/64 {
		c.seen = append(c.seen, 0)
	}
	if c.seen[seq/64]&(1<<(seq%64)) != 0 {
		c.dups++
		return
	}
	c.seen[seq/64] |= 1 << (seq % 64)
	c.received++
	l.events.Add(1)
	l.hist.Record(now.Sub(time.Unix(0, ns)))
}

// Counters returns the running totals; safe from any goroutine.
func (g *Gen) Counters() Counters {
	var c Counters
	for _, l := range g.loops {
		c.Open += l.open.Load()
		c.Failed += l.failed.Load()
		c.Dropped += l.dropped.Load()
		c.Deliveries += l.events.Load()
		c.Connecting += l.pending.Load()
	}
	return c
}

// Result is what the generator saw, once stopped.
type Result struct {
	Latency   Hist
	FirstByte Hist
	Received  int
	Dups      int    // events that came twice
	PerSub    []int  // events received, per subscriber
	Topics    []int  // per subscriber: its topic
	Slow      []bool // per subscriber: it never read
	Dropped   []bool // per subscriber: its stream ended early
}

// Stop closes every connection and returns what was seen.
func (g *Gen) Stop() Result {
	g.stop.Store(true)
	g.wg.Wait()
	var r Result
	for _, l := range g.loops {
		r.Latency.Merge(&l.hist)
		r.FirstByte.Merge(&l.first)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		r.Received += c.received
		r.Dups += c.dups
		r.PerSub = append(r.PerSub, c.received)
		r.Topics = append(r.Topics, c.topic)
		r.Slow = append(r.Slow, c.slow)
		r.Dropped = append(r.Dropped, c.ended)
	}
	return r
}

func fileLimit() uint64 {
	var r syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	return r.Cur
}

// RaiseFileLimit raises the soft open-file limit to the hard one.
func RaiseFileLimit() uint64 {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return fileLimit()
}
