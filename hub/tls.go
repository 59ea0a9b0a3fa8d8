package hub

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// TLSListener returns tls.NewListener(ln, config), whose TLS 1.3
// connections the hub can take over from crypto/tls: the connection
// engine once one carries an HTTP/1.1 event stream, as it takes plain
// ones (no goroutine and no buffer of their own), and the hub's HTTP/2
// server (ConfigureHTTP2) once one negotiates "h2", which then parks
// while idle as h2c does. Serve it with http.Server.Serve (not ServeTLS,
// which would add a second TLS layer); config's NextProtos are used as
// given, so list "h2" and "http/1.1" for both protocols.
//
// crypto/tls hands over no traffic keys, so each connection learns its own
// from its handshake: config is cloned per connection with a KeyLogWriter
// that keeps the server's application traffic secret (and the client's,
// for "h2") in memory, with the connection, and nowhere else (config's own
// KeyLogWriter, if any, still gets every line), and the records crypto/tls
// writes are counted, so that the hub goes on at the next sequence number.
// Until the protocol is known, and for "h2" until the hand-over, crypto/tls
// is given one record per read, so that it never holds bytes past the
// handshake. TLS 1.2 connections, and every connection on a hub without
// an engine, stay with crypto/tls.
func (h *Hub) TLSListener(ln net.Listener, config *tls.Config) net.Listener {
	if h.cfg.NoEngine || !engineAvailable {
		return tls.NewListener(ln, config)
	}
	return newTLSListener(ln, config, &h.tlsConns)
}

// newTLSListener is TLSListener's listener, registering its connections
// in conns.
func newTLSListener(ln net.Listener, config *tls.Config, conns *tlsConns) *tlsListener {
	c := config.Clone()
	own := config.GetConfigForClient
	c.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		base := c
		if own != nil {
			cfg, err := own(chi)
			if err != nil {
				return nil, err
			}
			if cfg != nil {
				base = cfg
			}
		}
		capt, ok := chi.Conn.(*tlsCapture)
		if !ok {
			return base, nil
		}
		if alpn(base.NextProtos, chi.SupportedProtos) == "h2" {
			// HTTP/2: the hub's server takes the connection from crypto/tls
			// (tls_h2.go), and reads its records too: the client's secret
			// is kept, and crypto/tls reads nothing past the handshake.
			capt.mu.Lock()
			capt.h2 = true
			capt.mu.Unlock()
		} else {
			capt.bounded = false // net/http reads requests through crypto/tls
		}
		k := base.Clone()
		if k.KeyLogWriter != nil {
			k.KeyLogWriter = io.MultiWriter(k.KeyLogWriter, (*keyLog)(capt))
		} else {
			k.KeyLogWriter = (*keyLog)(capt)
		}
		return k, nil
	}
	return &tlsListener{Listener: ln, config: c, conns: conns}
}

// alpn is the protocol crypto/tls negotiates: the server's first that
// the client offers.
func alpn(server, client []string) string {
	for _, p := range server {
		if slices.Contains(client, p) {
			return p
		}
	}
	return ""
}

type tlsListener struct {
	net.Listener
	config *tls.Config
	conns  *tlsConns
}

func (l *tlsListener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := raw.(*net.TCPConn); !ok {
		return tls.Server(raw, l.config), nil // no descriptor for the engine
	}
	c := &tlsCapture{Conn: raw, conns: l.conns, key: connKey{raw.LocalAddr().String(), raw.RemoteAddr().String()}, bounded: true}
	l.conns.add(c)
	return tls.Server(c, l.config), nil
}

// A connKey names a TCP connection for a request to find its capture:
// net/http gives a request its connection's addresses, not the connection.
type connKey struct{ local, remote string }

// tlsConns are a hub's captured TLS connections on net/http's side.
type tlsConns struct {
	mu sync.Mutex
	m  map[connKey]*tlsCapture
}

func (t *tlsConns) add(c *tlsCapture) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[connKey]*tlsCapture{}
	}
	t.m[c.key] = c
}

func (t *tlsConns) remove(c *tlsCapture) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[c.key] == c {
		delete(t.m, c.key)
	}
}

// adoptable reports whether r's connection can be handed to the engine
// once hijacked: TLS 1.3, captured, its record count known.
func (t *tlsConns) adoptable(r *http.Request) bool {
	if r.TLS == nil || r.TLS.Version != tls.VersionTLS13 {
		return false
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	t.mu.Lock()
	c := t.m[connKey{local.String(), r.RemoteAddr}]
	t.mu.Unlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secret != nil && !c.broken
}

// A tlsCapture is the TCP connection under a tls.Conn: it passes
// everything through, and follows the records crypto/tls writes with the
// server's application traffic secret, which its keyLog receives, so
// that it knows the sequence number of the next one.
type tlsCapture struct {
	net.Conn
	conns *tlsConns
	key   connKey

	off   atomic.Bool // forgotten: writes pass through, unobserved
	taken atomic.Bool // taken by the hub's HTTP/2 server: crypto/tls writes nothing more

	// The records read, while bounded (the handshake's goroutine only):
	// each Read returns at most the rest of one record, so that crypto/tls
	// reads nothing past the client's Finished. rhn and rleft are where
	// the current record is: its header's bytes read, its body's left.
	bounded bool
	rhdr    [recordHeaderLen]byte
	rhn     int
	rleft   int

	mu     sync.Mutex
	h2     bool      // the connection negotiated HTTP/2: its client's secret is kept too
	client []byte    // CLIENT_TRAFFIC_SECRET_0, for HTTP/2 only
	secret []byte    // SERVER_TRAFFIC_SECRET_0, then after each KeyUpdate
	trial  []*sealer // the candidate suites for secret; one once found
	found  bool      // a record opened under secret: trial[0] is its suite
	seq    uint64    // the next record's sequence number under secret
	broken bool      // a record did not add up: the engine must not take it
	// The record being written: its header, then its body (kept only
	// when it must be opened).
	hdr  [recordHeaderLen]byte
	hn   int
	left int
	body []byte
	keep bool
}

// Read reads from the connection, at most the rest of one record while
// bounded.
func (c *tlsCapture) Read(p []byte) (int, error) {
	if !c.bounded {
		return c.Conn.Read(p)
	}
	if c.rhn < recordHeaderLen {
		p = p[:min(len(p), recordHeaderLen-c.rhn)]
	} else {
		p = p[:min(len(p), c.rleft)]
	}
	n, err := c.Conn.Read(p)
	if c.rhn < recordHeaderLen {
		copy(c.rhdr[c.rhn:], p[:n])
		c.rhn += n
		if c.rhn == recordHeaderLen {
			c.rleft = int(binary.BigEndian.Uint16(c.rhdr[3:]))
		}
	} else {
		c.rleft -= n
	}
	if c.rhn == recordHeaderLen && c.rleft == 0 {
		c.rhn = 0 // the record is whole
	}
	return n, err
}

// Write writes p and follows its records, unless the connection was
// taken: then it fails, writing nothing (net/http closes the tls.Conn
// it no longer serves, whose close_notify must not reach the client).
func (c *tlsCapture) Write(p []byte) (int, error) {
	if c.taken.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Write(p)
	if n > 0 && !c.off.Load() {
		c.mu.Lock()
		c.observe(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

func (c *tlsCapture) Close() error {
	c.conns.remove(c)
	return c.Conn.Close()
}

// observe follows the records in p, the next bytes written.
func (c *tlsCapture) observe(p []byte) {
	for len(p) > 0 {
		if c.hn < recordHeaderLen {
			k := copy(c.hdr[c.hn:], p)
			c.hn += k
			p = p[k:]
			if c.hn < recordHeaderLen {
				return
			}
			c.left = int(binary.BigEndian.Uint16(c.hdr[3:]))
			// Application records before the first one found are the
			// handshake's, under its own key; after it, only a KeyUpdate
			// (the size of one, 22 bytes) changes anything.
			c.keep = c.hdr[0] == recordAppData && c.secret != nil && (!c.found || c.left == 22)
			c.body = c.body[:0]
		}
		k := min(c.left, len(p))
		if c.keep {
			c.body = append(c.body, p[:k]...)
		}
		c.left -= k
		p = p[k:]
		if c.left == 0 {
			c.record()
			c.hn = 0
		}
	}
}

// record accounts for the record just written.
func (c *tlsCapture) record() {
	if c.hdr[0] != recordAppData || c.secret == nil || c.broken {
		return // plaintext handshake records, or before the traffic secret
	}
	if !c.keep {
		c.seq++
		return
	}
	if cap(c.body) > 4096 {
		defer func() { c.body = nil }() // a handshake's flight: no reason to keep it
	}
	if c.trial == nil {
		c.trial = candidates(c.secret)
	}
	defer func() { // keep the keys, not the ciphers: most connections never open another
		for _, t := range c.trial {
			t.rest()
		}
	}()
	for i, t := range c.trial {
		t.seq = c.seq
		typ, plain, ok := t.open(c.hdr[:], c.body)
		if !ok {
			continue
		}
		c.found, c.trial = true, c.trial[i:i+1]
		c.seq++
		if typ == recordHandshake && len(plain) > 0 && plain[0] == 24 { // key_update
			next, err := nextSecret(t.suite, c.secret)
			if err != nil {
				c.broken = true
				return
			}
			c.secret, c.seq, c.trial = next, 0, candidates(next, t.suite)
		}
		return
	}
	if c.found { // a 22-byte record the key does not open
		c.broken = true
	}
}

// candidates are the sealers secret could key: the suite is not known
// when the secret arrives, only the length of its hash.
func candidates(secret []byte, suites ...uint16) []*sealer {
	if len(suites) == 0 {
		suites = []uint16{tls.TLS_AES_256_GCM_SHA384}
		if len(secret) == 32 {
			suites = []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256}
		}
	}
	var out []*sealer
	for _, suite := range suites {
		if s, err := newSealer(suite, secret, 0); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// take ends the capture of a connection net/http gave up (hijacked): it
// returns the sealer that goes on where crypto/tls stopped, for suite, the
// connection's. Nothing may write through the tls.Conn afterwards.
func (c *tlsCapture) take(suite uint16) (*sealer, error) {
	c.conns.remove(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.secret == nil:
		return nil, errors.New("hub: no TLS 1.3 traffic secret for this connection")
	case c.broken, c.hn != 0:
		return nil, errors.New("hub: the TLS records written so far do not add up")
	case c.found && c.trial[0].suite != suite:
		return nil, errors.New("hub: TLS records under an unexpected cipher suite")
	}
	s, err := newSealer(suite, c.secret, c.seq)
	c.trial, c.body = nil, nil
	return s, err
}

// forget ends the capture of a connection the engine will never take (its
// HTTP/2 server holds it): it follows no more records and keeps no key.
func (c *tlsCapture) forget() {
	c.off.Store(true)
	c.bounded = false
	c.conns.remove(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secret, c.client, c.trial, c.body, c.broken = nil, nil, nil, nil, true
}

// forgetTLS forgets conn's capture, if Hub.TLSListener made one.
func forgetTLS(conn *tls.Conn) {
	if c, ok := conn.NetConn().(*tlsCapture); ok {
		c.forget()
	}
}

// takeTLS takes conn, a TLS connection hijacked from net/http, from
// crypto/tls: it returns the TCP connection under it and the sealer that
// writes on it. It fails for a connection not accepted by TLSListener or
// whose records cannot be followed.
func takeTLS(conn *tls.Conn) (net.Conn, *sealer, error) {
	capt, ok := conn.NetConn().(*tlsCapture)
	if !ok {
		return nil, nil, errors.New("hub: TLS connection not accepted by Hub.TLSListener")
	}
	st := conn.ConnectionState()
	if st.Version != tls.VersionTLS13 {
		return nil, nil, errors.New("hub: the engine takes TLS 1.3 only")
	}
	s, err := capt.take(st.CipherSuite)
	if err != nil {
		return nil, nil, err
	}
	return capt.Conn, s, nil
}

// A keyLog is a capture as the KeyLogWriter of its handshake: it keeps
// the server's application traffic secret, and the client's for HTTP/2
// (NSS key log format: label, client random, secret, in hex), and
// ignores the other lines.
type keyLog tlsCapture

func (k *keyLog) Write(line []byte) (int, error) {
	rest, server := bytes.CutPrefix(line, []byte("SERVER_TRAFFIC_SECRET_0 "))
	if !server {
		var client bool
		if rest, client = bytes.CutPrefix(line, []byte("CLIENT_TRAFFIC_SECRET_0 ")); !client {
			return len(line), nil
		}
	}
	f := bytes.Fields(rest)
	if len(f) != 2 {
		return len(line), nil
	}
	secret := make([]byte, hex.DecodedLen(len(f[1])))
	if _, err := hex.Decode(secret, f[1]); err != nil {
		return len(line), nil
	}
	c := (*tlsCapture)(k)
	c.mu.Lock()
	switch {
	case server:
		c.secret = secret
	case c.h2:
		c.client = secret
	}
	c.mu.Unlock()
	return len(line), nil
}

// takeH2 ends the capture of an HTTP/2 connection whose handshake is
// done, for the hub's HTTP/2 server to read and write its records from
// here on, through t (whose state is the connection's): it gives t the
// keys of both directions (the server's sealer going on where crypto/tls
// stopped, and the client's, which crypto/tls never used: it read nothing
// past the client's Finished) and the secrets their KeyUpdates derive
// from. Writes through the tls.Conn fail from here on, writing nothing.
// It fails, taking nothing, for a connection whose records could not be
// followed.
func (c *tlsCapture) takeH2(t *tlsRecordConn) error {
	suite := t.state.CipherSuite
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.h2 || c.secret == nil || c.client == nil:
		return errors.New("hub: no TLS 1.3 traffic secrets for this connection")
	case c.broken, c.hn != 0:
		return errors.New("hub: the TLS records written so far do not add up")
	case !c.bounded || c.rhn != 0:
		return errors.New("hub: crypto/tls may hold bytes past the handshake")
	case c.found && c.trial[0].suite != suite:
		return errors.New("hub: TLS records under an unexpected cipher suite")
	}
	server, err := newSealer(suite, c.secret, c.seq)
	if err != nil {
		return err
	}
	client, err := newSealer(suite, c.client, 0)
	if err != nil {
		return err
	}
	server.rest()
	client.rest()
	t.seal, t.secret = *server, newTrafficSecret(c.secret)
	t.in.keys, t.in.secret = *client, newTrafficSecret(c.client)
	c.taken.Store(true)
	c.off.Store(true)
	c.bounded = false
	c.secret, c.client, c.trial, c.body = nil, nil, nil, nil
	c.conns.remove(c)
	return nil
}
