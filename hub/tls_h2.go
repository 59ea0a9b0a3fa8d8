package hub

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// HTTP/2 over TLS without crypto/tls after the handshake. A connection
// accepted by Hub.TLSListener that negotiates h2 with TLS 1.3 is taken
// from crypto/tls once its handshake is done (tlsCapture.takeH2): the hub
// seals what it writes (tlsrecord.go) and opens what it reads
// (tlsopen.go), on a socket of its own, so that it parks as an h2c
// connection does (h2_park_linux.go), with no goroutine and no tls.Conn,
// whose buffers (8 KB and more, sized by the handshake) become garbage.
// TLS 1.2, other listeners, hubs without the engine and systems without
// parking stay on crypto/tls.

// tlsRecordConn is a TCP connection carrying TLS 1.3 records the hub
// seals and opens itself: a net.Conn of plaintext. Reads belong to one
// reader at a time (the connection's); writes are serialized by wmu,
// which the reader takes too, to answer a KeyUpdate.
//
// Both directions keep their cipher (AES-GCM's is 1.3 KB, and takes
// microseconds to make: more than sealing an event) while the connection
// is in use, and drop it once it has been idle for a while (the hub's HTTP/2 sweep, coolCiphersLocked),
// so that an idle connection keeps only its keys. Keys, secrets and the
// connection's TLS state are held by value: a parked connection's TLS is
// this one allocation.
type tlsRecordConn struct {
	net.Conn // the socket: deadlines, addresses

	state tls.ConnectionState // what its requests see as r.TLS

	rmu sync.Mutex // held by the reader while it reads; and to drop in's cipher
	in  opener

	wmu    sync.Mutex
	seal   sealer
	secret trafficSecret // the server's traffic secret, for KeyUpdates
	werr   error         // a write failed, or an alert was sent: nothing more is
	// writeTimeout bounds the writes the reader makes itself (the answer
	// to a KeyUpdate, an alert): the deadline left by the last frame
	// written may have passed long ago, or be none.
	writeTimeout time.Duration

	hub    *Hub // whose HTTP/2 sweep drops idle ciphers
	recent bool // a cipher was used since the last cooling; guarded by hub.h2sweep.mu
	warm   bool // listed in hub.h2sweep.warm; guarded by hub.h2sweep.mu
}

// takeTLSH2 takes tc, an HTTP/2 connection whose handshake is done, from
// crypto/tls: it returns the TCP connection under it (which net/http
// closes when its goroutine returns: the caller serves a duplicate of its
// own, which it sets as the returned connection's Conn) and the
// connection that seals and opens its records. It reports false, taking
// nothing, for a connection not accepted by TLSListener, not TLS 1.3, or
// whose records were not followed. The connection's own writes
// (KeyUpdates, alerts) each get writeTimeout.
func (h *Hub) takeTLSH2(tc *tls.Conn) (net.Conn, *tlsRecordConn, bool) {
	capt, ok := tc.NetConn().(*tlsCapture)
	if !ok {
		return nil, nil, false
	}
	t := &tlsRecordConn{state: tc.ConnectionState(), writeTimeout: h.cfg.WriteTimeout, hub: h}
	if t.state.Version != tls.VersionTLS13 || capt.takeH2(t) != nil {
		return nil, nil, false
	}
	t.in.update = t
	return capt.Conn, t, true
}

// Read reads content, waiting for it.
func (t *tlsRecordConn) Read(p []byte) (int, error) {
	return t.readNow(p, t.Conn.Read)
}

// readNow reads content without waiting, with read (the parking's
// readNow): errWouldBlock while no record is whole.
func (t *tlsRecordConn) readNow(p []byte, read func([]byte) (int, error)) (int, error) {
	t.rmu.Lock()
	n, err := t.in.readWith(p, read)
	if t.in.keys.aead != nil {
		t.used()
	}
	t.rmu.Unlock()
	return n, t.failed(err)
}

// failed sends the alert a broken record calls for, once.
func (t *tlsRecordConn) failed(err error) error {
	if a, ok := err.(tlsAlertError); ok {
		t.wmu.Lock()
		if t.werr == nil {
			t.Conn.SetWriteDeadline(time.Now().Add(t.writeTimeout))
			t.writeRecord(recordAlert, []byte{2, byte(a)}) // fatal
			t.werr = err
		}
		t.wmu.Unlock()
	}
	return err
}

// Write seals p into records and writes them.
func (t *tlsRecordConn) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.werr != nil {
		return 0, t.werr
	}
	defer t.used()
	pool := &tlsOuts
	if len(p) <= tlsSmallOut {
		pool = &tlsSmallOuts // an event or two: no 64 KiB buffer for it
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	var b recordBatch
	done := 0
	for done < len(p) {
		*bp = t.seal.sealRecords((*bp)[:0], [][]byte{p[done:]}, &b)
		if _, err := t.Conn.Write(*bp); err != nil {
			t.werr = err // a record may have gone out in part
			return done, err
		}
		done += b.plain[b.n-1]
	}
	return done, nil
}

// tlsOuts are the buffers records are sealed in: one batch's; and
// tlsSmallOuts, for writes of at most tlsSmallOut bytes, one record's.
var (
	tlsOuts = sync.Pool{New: func() any {
		b := make([]byte, 0, maxBatchRecords*(maxRecordPayload+recordHeaderLen+1+tagLen))
		return &b
	}}
	tlsSmallOuts = sync.Pool{New: func() any {
		b := make([]byte, 0, tlsSmallOut+recordHeaderLen+1+tagLen)
		return &b
	}}
)

const tlsSmallOut = 2 << 10

// writeRecord writes one record of type typ; wmu is held.
func (t *tlsRecordConn) writeRecord(typ byte, content []byte) error {
	var buf [64]byte
	_, err := t.Conn.Write(t.seal.seal(buf[:0], typ, content))
	t.used()
	return err
}

// keyUpdate answers the client's KeyUpdate that asked for the hub's: the
// hub's KeyUpdate (update_not_requested), under the old key, then the
// new key for what follows.
func (t *tlsRecordConn) keyUpdate() error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.werr != nil {
		return t.werr
	}
	// The reader writes this, not a handler: under a deadline of its own,
	// so that a client that does not read holds the reader (and wmu) for
	// at most writeTimeout, and one idle for longer than that is answered.
	t.Conn.SetWriteDeadline(time.Now().Add(t.writeTimeout))
	if err := t.writeRecord(recordHandshake, []byte{24, 0, 0, 1, 0}); err != nil {
		t.werr = err
		return err
	}
	if err := t.seal.update(&t.secret); err != nil {
		t.werr = err
		return err
	}
	return nil
}

// cipherIdle is how long a connection keeps a cipher it does not use:
// dropped by the hub's HTTP/2 sweep after one to two of these idle.
const cipherIdle = time.Second

// used notes that t used a cipher, which it keeps until the hub's sweep
// finds it unused (coolCiphersLocked).
func (t *tlsRecordConn) used() {
	w := &t.hub.h2sweep
	w.mu.Lock()
	defer w.mu.Unlock()
	t.recent = true
	if t.warm {
		return
	}
	t.warm = true
	w.warm = append(w.warm, t)
	t.hub.startH2SweepLocked()
}

// coolCiphersLocked drops the ciphers of connections not used since the
// last time (a connection in use now, its lock held, keeps them until
// the next). The sweep's mu is held.
func (w *h2Sweep) coolCiphersLocked() {
	keep := w.warm[:0]
	for _, t := range w.warm {
		if t.recent || !t.cool() {
			t.recent = false
			keep = append(keep, t)
			continue
		}
		t.warm = false
	}
	clear(w.warm[len(keep):])
	w.warm = keep
	if len(keep) == 0 {
		w.warm = nil
	}
}

// cool drops t's ciphers, unless it is reading or writing.
func (t *tlsRecordConn) cool() bool {
	if !t.rmu.TryLock() {
		return false
	}
	defer t.rmu.Unlock()
	if !t.wmu.TryLock() {
		return false
	}
	defer t.wmu.Unlock()
	t.in.keys.rest()
	t.seal.rest()
	return true
}

// closeNotifyWait bounds the wait for room to write close_notify in.
const closeNotifyWait = time.Second

// CloseWrite sends close_notify and shuts the socket's sending side.
func (t *tlsRecordConn) CloseWrite() error {
	t.closeNotify(true)
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close sends close_notify, unless a write is under way (stuck on a full
// socket: closing is what ends it), and closes the socket.
func (t *tlsRecordConn) Close() error {
	t.closeNotify(false)
	return t.Conn.Close()
}

func (t *tlsRecordConn) closeNotify(wait bool) {
	if wait {
		t.wmu.Lock()
	} else if !t.wmu.TryLock() {
		return
	}
	defer t.wmu.Unlock()
	if t.werr != nil {
		return
	}
	t.Conn.SetWriteDeadline(time.Now().Add(closeNotifyWait))
	t.writeRecord(recordAlert, []byte{1, alertCloseNotify})
	t.werr = net.ErrClosed
}

// readNow reads what the connection has without waiting, through its
// parking (which it must have), opening records if it carries TLS.
func (c *h2Conn) readNow() (int, error) {
	if t, ok := c.nc.(*tlsRecordConn); ok {
		return t.readNow(c.in.space(), c.park.readNow)
	}
	return c.park.readNow(c.in.space())
}
