package hub

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// limits refuses work past Config's limits before it costs anything: a
// subscription past the total or its address's share, a publish past its
// sender's rate. Open streams are never touched: under overload the hub
// sheds new work only.
type limits struct {
	maxSubs    int     // in all; 0 for no limit
	maxPerAddr int     // per client address (loopback exempt); 0 for no limit
	rate       float64 // publishes per second per sender; 0 for no limit
	burst      float64
	names      func(field string) string // Config.setting

	mu      sync.Mutex
	perAddr map[netip.Addr]int
	buckets map[string]*bucket
}

// subscribeRetry is the Retry-After of a refused subscription: a guess
// at when others will have left, jittered by the clients' own backoff.
const subscribeRetry = 5 * time.Second

func newLimits(c *Config) *limits {
	l := &limits{maxSubs: c.MaxSubscribers, maxPerAddr: c.MaxSubscribersPerAddr, rate: c.PublishRate,
		burst: float64(c.PublishBurst), names: c.setting, perAddr: map[netip.Addr]int{}, buckets: map[string]*bucket{}}
	if l.burst < 1 {
		l.burst = max(1, math.Ceil(l.rate))
	}
	return l
}

// clientAddr is the address a request comes from; the zero Addr if
// unknown (in-process subscriptions).
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// client is the client an address belongs to, as the per-address limits
// count them: an IPv4 address, or an IPv6 /64, the block one host gets
// (an IPv6 host can use any address of its /64, and would otherwise get a
// share of every limit per address).
func client(addr netip.Addr) netip.Addr {
	if addr.Is6() && !addr.IsLoopback() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}

// addrKey is the sender key of a client without a credential.
func addrKey(addr netip.Addr) string { return "addr\x00" + client(addr).String() }

// join admits a subscriber from addr, given the number open now.
// registry.mu is held by the caller, so the count cannot change meanwhile.
func (l *limits) join(addr netip.Addr, open int) error {
	if l.maxSubs > 0 && open >= l.maxSubs {
		return &Error{Code: ELimit, Message: fmt.Sprintf("the hub is at its subscriber limit (%d, its %s); try again later", l.maxSubs, l.names("MaxSubscribers")), RetryAfter: subscribeRetry}
	}
	if !l.counts(addr) {
		return nil
	}
	addr = client(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perAddr[addr] >= l.maxPerAddr {
		return &Error{Code: ELimit, Message: fmt.Sprintf("too many streams from this address (at most %d, the hub's %s); close some or try again later", l.maxPerAddr, l.names("MaxSubscribersPerAddr")), RetryAfter: subscribeRetry}
	}
	l.perAddr[addr]++
	return nil
}

// counts reports whether streams from addr are counted against the
// per-address limit: not without one, nor for in-process or loopback
// subscribers.
func (l *limits) counts(addr netip.Addr) bool {
	return l.maxPerAddr > 0 && addr.IsValid() && !addr.IsLoopback()
}

// leave is join's undo, when the subscriber goes.
func (l *limits) leave(addr netip.Addr) {
	if !l.counts(addr) {
		return
	}
	addr = client(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.perAddr[addr] - 1; n > 0 {
		l.perAddr[addr] = n
	} else {
		delete(l.perAddr, addr)
	}
}

// A bucket is a token bucket: tokens refill at the rate up to the burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// maxRetryAfter caps the wait a refused publish is told: a tiny rate
// would otherwise ask for years.
const maxRetryAfter = time.Hour

// publish charges one publish to its sender (a publisher's sender key).
func (l *limits) publish(sender string, now time.Time) error {
	if l.rate <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[sender]
	if b == nil {
		if len(l.buckets) >= 100_000 {
			l.forgetFull(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[sender] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		wait := min(maxRetryAfter.Seconds(), (1-b.tokens)/l.rate)
		return &Error{Code: ELimit, Message: fmt.Sprintf("publish rate limit: at most %g events per second per sender, %g at once (the hub's %s and %s)", l.rate, l.burst, l.names("PublishRate"), l.names("PublishBurst")),
			RetryAfter: time.Duration(wait * float64(time.Second))}
	}
	b.tokens--
	return nil
}

// forgetFull drops the buckets that have refilled: their senders are as
// new ones. It bounds the memory of many one-off senders.
func (l *limits) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
