package hub

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"testing"
)

// observeBytewise feeds rec to c one byte at a time: records may reach a
// capture in any pieces.
func observeBytewise(c *tlsCapture, rec []byte) {
	for i := range rec {
		c.observe(rec[i : i+1])
	}
}

// TestCapture_counts follows records as crypto/tls writes them: those
// under the handshake key are not counted, those under the traffic key
// are, a KeyUpdate moves to the next secret at sequence 0, and a record
// that does not add up makes the connection one the engine must not take.
func TestCapture_counts(t *testing.T) {
	const suite = tls.TLS_AES_128_GCM_SHA256
	secret := bytes.Repeat([]byte{7}, 32)
	c := &tlsCapture{conns: &tlsConns{}}
	hs, _ := newSealer(suite, bytes.Repeat([]byte{9}, 32), 0)
	c.observe(hs.seal(nil, recordHandshake, []byte("before the secret")))
	(*keyLog)(c).Write([]byte("CLIENT_TRAFFIC_SECRET_0 00 " + hex.EncodeToString(bytes.Repeat([]byte{8}, 32)) + "\n"))
	(*keyLog)(c).Write([]byte("SERVER_TRAFFIC_SECRET_0 00 " + hex.EncodeToString(secret) + "\n"))
	app, _ := newSealer(suite, secret, 0)
	c.observe(append(hs.seal(nil, recordHandshake, []byte("finished")), app.seal(nil, recordHandshake, []byte("a session ticket"))...))
	observeBytewise(c, app.seal(nil, recordAppData, []byte("short")))               // 22 bytes: opened
	c.observe(app.seal(nil, recordAppData, bytes.Repeat([]byte("response"), 1000))) // counted
	if c.seq != 3 || !c.found {
		t.Fatalf("after three records under the traffic key: seq %d, found %v", c.seq, c.found)
	}
	observeBytewise(c, app.seal(nil, recordHandshake, []byte{24, 0, 0, 1, 0})) // KeyUpdate
	next, _ := nextSecret(suite, secret)
	upd, _ := newSealer(suite, next, 0)
	c.observe(upd.seal(nil, recordAppData, []byte("after")))
	c.observe(upd.seal(nil, recordAppData, bytes.Repeat([]byte("more"), 100)))
	s, err := c.take(suite)
	if err != nil {
		t.Fatal(err)
	}
	if s.seq != 2 || s.key != upd.key {
		t.Errorf("taken at seq %d with key %x, want 2 and %x", s.seq, s.key, upd.key)
	}

	// A 22-byte record the key does not open: broken.
	c = &tlsCapture{conns: &tlsConns{}}
	(*keyLog)(c).Write([]byte("SERVER_TRAFFIC_SECRET_0 00 " + hex.EncodeToString(secret) + "\n"))
	app, _ = newSealer(suite, secret, 0)
	c.observe(app.seal(nil, recordHandshake, []byte("a session ticket")))
	c.observe(hs.seal(nil, recordAppData, []byte("odd!!")))
	if _, err := c.take(suite); err == nil {
		t.Error("a connection whose records do not add up was taken")
	}
	// A record written in part: not taken either.
	c = &tlsCapture{conns: &tlsConns{}}
	(*keyLog)(c).Write([]byte("SERVER_TRAFFIC_SECRET_0 00 " + hex.EncodeToString(secret) + "\n"))
	c.observe(app.seal(nil, recordAppData, []byte("cut short"))[:10])
	if _, err := c.take(suite); err == nil {
		t.Error("a connection with a record written in part was taken")
	}
}

// TestCapture_forget: a capture forgotten (its connection went to the
// HTTP/2 server) leaves its hub's connections, follows no more records,
// keeps no key, and can never be taken.
func TestCapture_forget(t *testing.T) {
	const suite = tls.TLS_AES_128_GCM_SHA256
	secret := bytes.Repeat([]byte{7}, 32)
	conns := &tlsConns{}
	server, client := net.Pipe()
	defer client.Close()
	go io.Copy(io.Discard, client)
	c := &tlsCapture{Conn: server, conns: conns, key: connKey{"a", "b"}}
	conns.add(c)
	(*keyLog)(c).Write([]byte("SERVER_TRAFFIC_SECRET_0 00 " + hex.EncodeToString(secret) + "\n"))
	app, _ := newSealer(suite, secret, 0)
	c.Write(app.seal(nil, recordAppData, []byte("short")))
	if c.seq != 1 {
		t.Fatalf("seq %d before forget, want 1", c.seq)
	}
	c.forget()
	c.Write(app.seal(nil, recordAppData, []byte("after")))
	if c.seq != 1 || c.secret != nil || c.trial != nil || c.hn != 0 {
		t.Errorf("after forget: seq %d, secret %x, %d candidates, header %d bytes in", c.seq, c.secret, len(c.trial), c.hn)
	}
	if len(conns.m) != 0 {
		t.Errorf("%d connections still registered", len(conns.m))
	}
	if _, err := c.take(suite); err == nil {
		t.Error("a forgotten capture was taken")
	}
}
