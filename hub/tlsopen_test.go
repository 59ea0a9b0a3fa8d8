package hub

import (
	"bytes"
	"crypto/tls"
	"io"
	"math/rand/v2"
	"testing"
)

// chunkReader gives its bytes in pieces of the sizes next chooses, then
// errWouldBlock (as a parked socket does) once, then the rest.
type chunkReader struct {
	data []byte
	next func() int
	wait bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.wait = !r.wait; r.wait {
		return 0, errWouldBlock
	}
	n := min(len(p), len(r.data), r.next())
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// testOpener returns an opener and the sealer of the same key (the
// client's side).
func testOpener(t testing.TB, suite uint16) (*opener, *sealer, []byte) {
	secret := bytes.Repeat([]byte{7}, 32)
	if suite == tls.TLS_AES_256_GCM_SHA384 {
		secret = bytes.Repeat([]byte{7}, 48)
	}
	client, err := newSealer(suite, secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := newSealer(suite, secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &opener{keys: *keys, secret: newTrafficSecret(secret)}, client, secret
}

// TestOpener_anyShape: whatever the records' sizes and padding, however
// the bytes are cut into reads and whatever room each read has, the
// opener returns the content sealed, in order, across the client's
// KeyUpdates, then EOF at close_notify; a read that finds nothing whole
// is errWouldBlock, and keeps no more than the partial record.
func TestOpener_anyShape(t *testing.T) {
	for _, suite := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		for seed := range uint64(30) {
			rng := rand.New(rand.NewPCG(seed, uint64(suite)))
			o, client, secret := testOpener(t, suite)
			updates := 0
			o.update = keyUpdateFunc(func() error { updates++; return nil })
			var wire, want []byte
			asked := 0
			for range 40 {
				switch rng.IntN(10) {
				case 0: // a KeyUpdate, asking for the hub's or not
					req := byte(rng.IntN(2))
					asked += int(req)
					wire = client.seal(wire, recordHandshake, []byte{24, 0, 0, 1, req})
					secret, _ = nextSecret(suite, secret)
					client, _ = newSealer(suite, secret, 0)
				case 1: // padded
					content := bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(100))
					want = append(want, content...)
					inner := append(append(append([]byte{}, content...), recordAppData), make([]byte, rng.IntN(200))...)
					wire = append(wire, sealInner(client, inner)...)
				default:
					n := rng.IntN(maxRecordPayload + 1)
					if rng.IntN(2) == 0 {
						n = rng.IntN(50)
					}
					content := make([]byte, n)
					for i := range content {
						content[i] = byte(rng.Uint32())
					}
					want = append(want, content...)
					wire = client.seal(wire, recordAppData, content)
				}
			}
			wire = client.seal(wire, recordAlert, []byte{1, 0})
			r := &chunkReader{data: wire, next: func() int { return 1 + rng.IntN(3*maxRecordWire) }}
			var got []byte
			for {
				room := maxRecordWire + rng.IntN(maxRecordWire)
				if rng.IntN(3) == 0 {
					room = 1 + rng.IntN(100)
				}
				buf := make([]byte, room)
				n, err := o.readWith(buf, r.Read)
				got = append(got, buf[:n]...)
				if err == errWouldBlock {
					if len(o.partial) >= maxRecordWire {
						t.Fatalf("waiting with %d bytes kept", len(o.partial))
					}
					continue
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("suite %x seed %d: %v after %d of %d bytes", suite, seed, err, len(got), len(want))
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("suite %x seed %d: read %d bytes, not the %d sealed", suite, seed, len(got), len(want))
			}
			if updates != asked {
				t.Errorf("%d KeyUpdates answered, %d asked for", updates, asked)
			}
			if o.partial != nil || o.plain != nil {
				t.Error("bytes kept after the end")
			}
		}
	}
}

// TestOpener_broken: a record changed in any byte fails, with the
// content before it read first; nothing after it is.
func TestOpener_broken(t *testing.T) {
	o, client, _ := testOpener(t, tls.TLS_AES_128_GCM_SHA256)
	wire := client.seal(nil, recordAppData, []byte("first"))
	bad := len(wire)
	wire = client.seal(wire, recordAppData, []byte("second"))
	wire = client.seal(wire, recordAppData, []byte("third"))
	for i := bad; i < bad+recordHeaderLen+7+tagLen; i++ {
		w := bytes.Clone(wire)
		w[i] ^= 0x40
		o.keys.seq, o.err, o.partial = 0, nil, nil
		r := bytes.NewReader(w)
		buf := make([]byte, maxRecordWire)
		n, err := o.readWith(buf, r.Read)
		if string(buf[:n]) != "first" || err != nil {
			t.Fatalf("byte %d: read %q, %v", i, buf[:n], err)
		}
		if n, err = o.readWith(buf, r.Read); n != 0 || err == nil {
			t.Fatalf("byte %d changed: read %q, %v", i, buf[:n], err)
		}
	}
}

// FuzzOpener: any bytes from a client end in content or an error, never
// a panic, and content only from records the key opens.
func FuzzOpener(f *testing.F) {
	_, client, _ := testOpener(f, tls.TLS_CHACHA20_POLY1305_SHA256)
	f.Add(client.seal(nil, recordAppData, []byte("frame")), 7)
	f.Add([]byte("\x17\x03\x03\x00\x11garbage garbage!"), 3)
	f.Add([]byte("\x17\x03\x03\xff\xff"), 1)
	f.Fuzz(func(t *testing.T, wire []byte, cut int) {
		o, _, _ := testOpener(t, tls.TLS_CHACHA20_POLY1305_SHA256)
		cut = max(1, cut%64)
		r := &chunkReader{data: wire, next: func() int { return cut }}
		buf := make([]byte, maxRecordWire)
		for range 1000 {
			_, err := o.readWith(buf[:cut*cut%len(buf)+1], r.Read)
			if err != nil && err != errWouldBlock {
				return
			}
		}
	})
}

// sealInner seals inner (content, type and padding, as given) as one
// record.
func sealInner(s *sealer, inner []byte) []byte {
	rec := []byte{recordAppData, 3, 3, byte((len(inner) + tagLen) >> 8), byte(len(inner) + tagLen)}
	nonce := s.nonce()
	s.ready()
	s.seq++
	return s.aead.Seal(rec, nonce[:], inner, rec)
}

// keyUpdateFunc is a func as a keyUpdater.
type keyUpdateFunc func() error

func (f keyUpdateFunc) keyUpdate() error { return f() }
