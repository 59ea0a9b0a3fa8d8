package hub

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	stdhash "hash"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// TLS 1.3's record layer, the server's sending half: what the connection
// engine needs to go on writing a connection crypto/tls set up (RFC 8446,
// section 5). It knows nothing of HTTP or the engine, so that any writer
// that took a connection over from crypto/tls can use it.
const (
	recordHeaderLen  = 5
	maxRecordPayload = 1 << 14 // bytes of content per record, the inner type aside
	tagLen           = 16      // the authentication tag, in every TLS 1.3 suite
	recordAppData    = 0x17
	recordAlert      = 0x15
	recordHandshake  = 0x16
)

// A sealer seals one connection's outgoing records under the server's
// application traffic key. It is not safe for concurrent use: its owner
// (one writer at a time) advances seq.
//
// Its cipher (768 bytes for AES-GCM: the expanded key and GHASH's table)
// is made when a record is sealed and dropped by rest, so that an idle
// stream keeps only its 16- or 32-byte key, in the sealer itself: a
// connection holds its sealers by value, one allocation for all its keys.
type sealer struct {
	aead   cipher.AEAD // nil at rest
	seq    uint64      // the next record's sequence number
	suite  uint16
	keyLen uint8
	key    [32]byte // key[:keyLen]
	iv     [12]byte
}

// newSealer derives the key and IV of the traffic secret for suite, a TLS
// 1.3 cipher suite, and starts at record seq.
func newSealer(suite uint16, secret []byte, seq uint64) (*sealer, error) {
	h, keyLen, err := suiteParams(suite)
	if err != nil {
		return nil, err
	}
	key, err := expandLabel(h, secret, "key", keyLen)
	if err != nil {
		return nil, err
	}
	iv, err := expandLabel(h, secret, "iv", 12)
	if err != nil {
		return nil, err
	}
	s := &sealer{suite: suite, keyLen: uint8(len(key)), seq: seq}
	copy(s.key[:], key)
	copy(s.iv[:], iv)
	return s, s.ready()
}

// ready makes s's cipher, unless it has one.
func (s *sealer) ready() error {
	if s.aead != nil {
		return nil
	}
	var err error
	if s.suite == tls.TLS_CHACHA20_POLY1305_SHA256 {
		s.aead, err = chacha20poly1305.New(s.key[:s.keyLen])
		return err
	}
	block, err := aes.NewCipher(s.key[:s.keyLen])
	if err != nil {
		return err
	}
	s.aead, err = cipher.NewGCM(block)
	return err
}

// rest drops s's cipher until the next record.
func (s *sealer) rest() { s.aead = nil }

// suiteParams returns suite's hash and key length.
func suiteParams(suite uint16) (func() stdhash.Hash, int, error) {
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		return sha256.New, 16, nil
	case tls.TLS_AES_256_GCM_SHA384:
		return sha512.New384, 32, nil
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		return sha256.New, 32, nil
	}
	return nil, 0, errors.New("hub: not a TLS 1.3 cipher suite")
}

// expandLabel is HKDF-Expand-Label with an empty context (RFC 8446,
// section 7.1).
func expandLabel(h func() stdhash.Hash, secret []byte, label string, n int) ([]byte, error) {
	info := make([]byte, 0, 4+6+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0)
	return hkdf.Expand(h, secret, string(info), n)
}

// A trafficSecret is a TLS 1.3 traffic secret (32 or 48 bytes, the
// suite's hash), held by value.
type trafficSecret struct {
	n uint8
	b [48]byte
}

func newTrafficSecret(b []byte) trafficSecret {
	var s trafficSecret
	s.n = uint8(copy(s.b[:], b))
	return s
}

func (s *trafficSecret) bytes() []byte { return s.b[:s.n] }

// update moves s and its traffic secret on, after a KeyUpdate: the next
// secret, and its key from sequence number 0. On an error neither moves.
func (s *sealer) update(secret *trafficSecret) error {
	next, err := nextSecret(s.suite, secret.bytes())
	if err != nil {
		return err
	}
	n, err := newSealer(s.suite, next, 0)
	if err != nil {
		return err
	}
	*s, *secret = *n, newTrafficSecret(next)
	return nil
}

// nextSecret is the traffic secret after a KeyUpdate.
func nextSecret(suite uint16, secret []byte) ([]byte, error) {
	h, _, err := suiteParams(suite)
	if err != nil {
		return nil, err
	}
	return expandLabel(h, secret, "traffic upd", len(secret))
}

// seal appends one record of type typ carrying content (at most
// maxRecordPayload bytes) to dst, and consumes a sequence number.
func (s *sealer) seal(dst []byte, typ byte, content []byte) []byte {
	dst, start := s.begin(dst, len(content))
	return s.finish(append(dst, content...), start, typ)
}

// begin appends a record's header to dst, making room for n bytes of
// content and the rest of the record, which the caller appends before
// finish seals it in place.
func (s *sealer) begin(dst []byte, n int) ([]byte, int) {
	start := len(dst)
	dst = slices.Grow(dst, recordHeaderLen+n+1+tagLen)
	return append(dst, recordAppData, 0x03, 0x03, 0, 0), start
}

// finish seals the record begun at dst[start:], whose content follows its
// header, with the inner type typ.
func (s *sealer) finish(dst []byte, start int, typ byte) []byte {
	dst = append(dst, typ)
	body := dst[start+recordHeaderLen:]
	binary.BigEndian.PutUint16(dst[start+3:], uint16(len(body)+tagLen))
	nonce := s.nonce()
	s.ready() // cannot fail: the key worked when s was made
	sealed := s.aead.Seal(body[:0], nonce[:], body, dst[start:start+recordHeaderLen])
	s.seq++
	return dst[:start+recordHeaderLen+len(sealed)]
}

// A recordBatch is what sealRecords made: where each record ends on the
// wire and in the plaintext, so that a writer cut off by a full socket
// knows how much of the plaintext went out in whole records.
type recordBatch struct {
	n     int
	wire  [maxBatchRecords]int
	plain [maxBatchRecords]int
}

// maxBatchRecords bounds one batch: four full records, 64 KiB.
const maxBatchRecords = 4

// sealRecords appends to dst the records carrying data, coalesced: each
// record takes as much of data as it can hold, whatever the boundaries of
// data's slices, so the same data always gives the same records. At most
// maxBatchRecords records are sealed; b says where they end.
func (s *sealer) sealRecords(dst []byte, data [][]byte, b *recordBatch) []byte {
	total := 0
	for _, d := range data {
		total += len(d)
	}
	b.n = 0
	base, plain := len(dst), 0
	i, off := 0, 0 // the next byte: data[i][off]
	for plain < total && b.n < maxBatchRecords {
		n := min(total-plain, maxRecordPayload)
		var start int
		dst, start = s.begin(dst, n)
		for room := n; room > 0; {
			d := data[i][off:]
			if len(d) > room {
				dst = append(dst, d[:room]...)
				off += room
				break
			}
			dst = append(dst, d...)
			room -= len(d)
			i, off = i+1, 0
		}
		plain += n
		dst = s.finish(dst, start, recordAppData)
		b.wire[b.n], b.plain[b.n] = len(dst)-base, plain
		b.n++
	}
	return dst
}

// writeRecords writes data as records through write, which writes what
// it can, and returns how much of data went out in whole records, and buf,
// the buffer they were sealed in, for reuse. *sent is how many bytes of
// the record at data's head went out already, and is updated.
//
// A record cut short (by a full socket) is sealed again on the next call,
// from the same plaintext under the same sequence number, and so comes out
// the same bytes (AES-GCM and ChaCha20-Poly1305 are deterministic): the
// caller keeps nothing of it but *sent, and data unchanged from that
// record on. Records sealed but not written at all are forgotten: their
// sequence numbers are used again, as nothing of them went out.
func (s *sealer) writeRecords(write func([]byte) (int, error), data [][]byte, sent *int, buf []byte, b *recordBatch) (int, []byte, error) {
	first := s.seq
	buf = s.sealRecords(buf[:0], data, b)
	off := *sent
	var err error
	for off < len(buf) {
		var n int
		n, err = write(buf[off:])
		off += n
		if err != nil {
			break
		}
	}
	k := 0 // records written whole
	for k < b.n && b.wire[k] <= off {
		k++
	}
	s.seq = first + uint64(k)
	if k == 0 {
		*sent = off
		return 0, buf, err
	}
	*sent = off - b.wire[k-1]
	return b.plain[k-1], buf, err
}

// closeNotify appends the close_notify alert.
func (s *sealer) closeNotify(dst []byte) []byte {
	return s.seal(dst, recordAlert, []byte{1, 0}) // warning, close_notify
}

// nonce is the per-record nonce: the IV XOR the sequence number.
func (s *sealer) nonce() [12]byte {
	n := s.iv
	for i := range 8 {
		n[4+i] ^= byte(s.seq >> (56 - 8*i))
	}
	return n
}

// open opens a record under s's key at s.seq, the inverse of seal: hdr is
// its header and body the rest. It returns the inner content type and
// the content, padding removed.
func (s *sealer) open(hdr, body []byte) (byte, []byte, bool) {
	nonce := s.nonce()
	s.ready()
	plain, err := s.aead.Open(nil, nonce[:], body, hdr)
	if err != nil {
		return 0, nil, false
	}
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 {
		return 0, nil, false
	}
	return plain[len(plain)-1], plain[:len(plain)-1], true
}

// advance drops the first n bytes of bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs[0] = nil
		bufs = bufs[1:]
	}
	if len(bufs) == 0 {
		return bufs[:0]
	}
	return bufs
}
