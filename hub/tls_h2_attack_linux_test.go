package hub

import (
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestTLSH2_keyUpdateAfterIdle: a KeyUpdate asking for the hub's, sent
// after the connection has been idle longer than the write timeout, is
// answered and the connection goes on. The answer was written under the
// deadline of the hub's last write, long passed: the write failed at
// once, and the connection of a client doing nothing wrong was dropped.
func TestTLSH2_keyUpdateAfterIdle(t *testing.T) {
	const writeTimeout = 20 * time.Millisecond
	h, addr := newTLSH2ServerWith(t, Config{WriteTimeout: writeTimeout, Heartbeat: time.Hour})
	c := dialTLSH2(t, addr, nil)
	c.fr.WritePing(false, [8]byte{1})
	readUntil(t, c.fr, "the first PING's ACK", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck()
	})
	until(t, "parked", func() bool { return tlsParked(h, 1) })
	time.Sleep(10 * writeTimeout) // the last write's deadline passes (not a timed assertion: any longer wait is the same)
	c.keyUpdate(t, true)
	c.fr.WritePing(false, [8]byte{2})
	readUntil(t, c.fr, "the PING's ACK after the KeyUpdate", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == [8]byte{2}
	})
}
