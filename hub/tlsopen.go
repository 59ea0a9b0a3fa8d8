package hub

import (
	"errors"
	"io"
)

// TLS 1.3's record layer, the server's receiving half (RFC 8446, section
// 5): what an HTTP/2 connection taken over from crypto/tls needs to read
// the client's records itself, from bytes read without waiting, so that
// an idle connection can park with no goroutine and no buffer.

// maxRecordWire is the largest record a TLS 1.3 peer may send: header,
// 2^14 bytes of content, the inner type, padding and tag (at most 256
// bytes past the content).
const maxRecordWire = recordHeaderLen + maxRecordPayload + 256

// maxEmptyRecords bounds the empty records a client may send in a row
// (crypto/tls's bound on records that carry nothing).
const maxEmptyRecords = 16

// Alert descriptions the opener sends before it gives up.
const (
	alertCloseNotify       = 0
	alertUnexpectedMessage = 10
	alertBadRecordMAC      = 20
	alertRecordOverflow    = 22
	alertDecodeError       = 50
)

// A tlsAlertError ends a connection whose client broke the record layer:
// the alert to send it.
type tlsAlertError byte

func (e tlsAlertError) Error() string {
	switch e {
	case alertBadRecordMAC:
		return "hub: TLS record failed authentication (bad_record_mac)"
	case alertRecordOverflow:
		return "hub: TLS record too large (record_overflow)"
	case alertDecodeError:
		return "hub: malformed TLS record (decode_error)"
	}
	return "hub: unexpected TLS record (unexpected_message)"
}

// errTLSAlert is the client's alert, other than close_notify: the
// connection ends.
var errTLSAlert = errors.New("hub: the TLS client sent an alert")

// An opener opens one connection's incoming records under the client's
// application traffic key. Only the connection's reader uses it.
//
// Bytes of a record not whole yet are kept (partial) until the rest
// arrives, in a slice of their size; nothing else is kept between reads
// but the key and its cipher, which the owner drops (keys.rest) when the
// connection goes idle.
type opener struct {
	keys    sealer        // the client's key, IV and next sequence number
	secret  trafficSecret // the client's traffic secret, for its KeyUpdates
	partial []byte        // the start of a record not whole yet
	plain   []byte        // content opened but not read yet (a small read's)
	err     error         // the error that comes after the content already read
	empty   int           // empty records in a row
	// update answers a client's KeyUpdate that asks for the hub's: the
	// hub's own, sent before any more records. Nil: not answered.
	update keyUpdater
}

// A keyUpdater sends the hub's KeyUpdate (its connection, which is one:
// an interface holds it without an allocation, as a method value would
// not).
type keyUpdater interface{ keyUpdate() error }

// readWith reads content into dst, reading records with read (which may
// return errWouldBlock, passed on while no content is whole). It returns
// content with a nil error; an error (io.EOF for close_notify, a
// tlsAlertError for a broken record) comes with the next call.
func (o *opener) readWith(dst []byte, read func([]byte) (int, error)) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	if len(o.plain) > 0 {
		n := copy(dst, o.plain)
		o.plain = o.plain[n:]
		if len(o.plain) == 0 {
			o.plain = nil
		}
		return n, nil
	}
	if o.err != nil {
		return 0, o.err
	}
	if len(dst) >= maxRecordWire {
		return o.fill(dst, read)
	}
	// Too little room to open a record in place: open it in a buffer of
	// its own, kept while its content is being read.
	own := make([]byte, maxRecordWire)
	w, err := o.fill(own, read)
	n := copy(dst, own[:w])
	if n < w {
		o.plain = own[n:w]
	}
	return n, err
}

// fill reads records into buf (at least maxRecordWire bytes) after the
// partial record, opens the whole ones in place and moves their content
// to buf's start: it returns how much. It reads until some content is
// whole, or read fails.
func (o *opener) fill(buf []byte, read func([]byte) (int, error)) (int, error) {
	for {
		k := copy(buf, o.partial)
		n, err := read(buf[k:])
		if n <= 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			if err == io.EOF && k > 0 {
				err = io.ErrUnexpectedEOF // a record cut short
			}
			return 0, err
		}
		w, rest, oerr := o.open(buf[:k+n])
		o.partial = nil
		if len(rest) > 0 {
			o.partial = append([]byte(nil), rest...)
		}
		if oerr != nil {
			o.err, o.partial = oerr, nil
			if w == 0 {
				return 0, oerr
			}
		}
		if w > 0 {
			return w, nil
		}
	}
}

// open opens the whole records at b's start in place, moving their
// content to b's start: it returns its length, and the bytes of a record
// not whole yet. An error stops it at the record that failed, with the
// content before it.
func (o *opener) open(b []byte) (int, []byte, error) {
	w, r := 0, 0
	for len(b)-r >= recordHeaderLen {
		hdr := b[r : r+recordHeaderLen]
		n := int(hdr[3])<<8 | int(hdr[4])
		if n > maxRecordWire-recordHeaderLen {
			return w, nil, tlsAlertError(alertRecordOverflow)
		}
		if len(b)-r < recordHeaderLen+n {
			break
		}
		if hdr[0] != recordAppData || n < tagLen+1 {
			// After the handshake every record is protected: a plaintext
			// one (a ChangeCipherSpec, an alert) is the client's mistake.
			return w, nil, tlsAlertError(alertUnexpectedMessage)
		}
		body := b[r+recordHeaderLen : r+recordHeaderLen+n]
		nonce := o.keys.nonce()
		o.keys.ready() // cannot fail: the key worked when it was made
		plain, err := o.keys.aead.Open(body[:0], nonce[:], body, hdr)
		if err != nil {
			return w, nil, tlsAlertError(alertBadRecordMAC)
		}
		o.keys.seq++
		r += recordHeaderLen + n
		end := len(plain) // the inner type is the last byte not zero
		for end > 0 && plain[end-1] == 0 {
			end--
		}
		if end == 0 {
			return w, nil, tlsAlertError(alertUnexpectedMessage)
		}
		typ, content := plain[end-1], plain[:end-1]
		if len(content) > maxRecordPayload {
			return w, nil, tlsAlertError(alertRecordOverflow)
		}
		switch typ {
		case recordAppData:
			// Empty records cost an authentication each, and carry
			// nothing: a few in a row, as crypto/tls allows, and no more.
			if o.empty = o.empty + 1; len(content) > 0 {
				o.empty = 0
			} else if o.empty > maxEmptyRecords {
				return w, nil, tlsAlertError(alertUnexpectedMessage)
			}
			w += copy(b[w:], content) // content lies after b[w:]: a forward move
		case recordAlert:
			if len(content) == 2 && content[1] == alertCloseNotify {
				return w, nil, io.EOF
			}
			return w, nil, errTLSAlert
		case recordHandshake:
			if err := o.handshake(content); err != nil {
				return w, nil, err
			}
		default:
			return w, nil, tlsAlertError(alertUnexpectedMessage)
		}
	}
	return w, b[r:], nil
}

// handshake handles a handshake record after the handshake: a KeyUpdate
// (the only message a client may send then; one a record, as a key
// change ends its record), which moves the client's key on, and asks for
// the hub's own KeyUpdate if update_requested.
func (o *opener) handshake(msg []byte) error {
	if len(msg) != 5 || msg[0] != 24 || msg[1] != 0 || msg[2] != 0 || msg[3] != 1 || msg[4] > 1 {
		if len(msg) > 0 && msg[0] == 24 {
			return tlsAlertError(alertDecodeError)
		}
		return tlsAlertError(alertUnexpectedMessage)
	}
	if err := o.keys.update(&o.secret); err != nil {
		return err
	}
	if msg[4] == 1 && o.update != nil {
		return o.update.keyUpdate()
	}
	return nil
}
