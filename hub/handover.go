package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/herd-sse/herd/sse"
)

// serveHijacked serves s on a connection taken over from net/http: it
// writes the response head and the history (on this goroutine, which ends
// afterwards), then hands the connection to the engine. The response has
// no length and no chunking: it ends when the connection closes. extra
// holds headers to send besides the stream's own; retry, if positive, is
// sent first.
//
// A TLS connection is taken from crypto/tls at once: from here on its
// records are sealed by the hub (tlsrecord.go), here and in the engine.
func (h *Hub) serveHijacked(conn net.Conn, s *subscriber, extra http.Header, retry time.Duration) {
	var seal *sealer
	if tc, ok := conn.(*tls.Conn); ok {
		raw, sl, err := takeTLS(tc)
		if err != nil { // records sent meanwhile (a KeyUpdate): the client resumes
			h.log.Warn("TLS stream not handed to the engine", "err", err)
			tc.Close()
			h.unsubscribe(s, reasonWrite)
			return
		}
		conn, seal = raw, sl
	}
	conn.SetDeadline(time.Time{}) // the server's deadlines no longer apply
	var sealed []byte
	write := func(bufs net.Buffers) (int64, error) {
		conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		defer conn.SetWriteDeadline(time.Time{})
		if seal == nil {
			return bufs.WriteTo(conn) // one writev, no copy
		}
		var n int64
		var b recordBatch
		for len(bufs) > 0 {
			sealed = seal.sealRecords(sealed[:0], bufs, &b)
			if b.n == 0 { // nothing but empty buffers
				break
			}
			if _, err := conn.Write(sealed); err != nil {
				return n, err
			}
			n += int64(b.plain[b.n-1])
			bufs = advance(bufs, b.plain[b.n-1])
		}
		return n, nil
	}
	end := func(reason closeReason) {
		if seal != nil && reason != reasonWrite && reason != reasonClient {
			conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
			conn.Write(seal.closeNotify(nil))
		}
		conn.Close()
		h.unsubscribe(s, reason)
	}
	// The head is HTTP framing, the hub's; the stream's headers and first
	// bytes are sse's, as on net/http's path.
	hdr := extra.Clone()
	sse.SetHeaders(hdr)
	hdr.Set("Connection", "close")
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	hdr.Write(&head)
	head.WriteString("\r\n")
	if _, err := write(net.Buffers{head.Bytes(), sse.OpeningFrame(retry).Bytes()}); err != nil {
		end(reasonClient)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var items []item
	var bufs net.Buffers
	for s.replaying() {
		var err error
		items, err = s.next(ctx, nil, items[:0])
		bufs = bufs[:0]
		for _, it := range items {
			bufs = append(bufs, it.wire.Bytes())
		}
		n, werr := write(bufs)
		h.counters.bytesWritten.Add(n)
		if werr != nil || err != nil {
			end(reasonWrite)
			return
		}
	}
	if s.finished != 0 { // the replay ended with the close
		end(s.finished)
		return
	}
	if seal != nil {
		seal.rest() // until the engine writes
	}
	if err := h.engine.adopt(conn, s, seal); err != nil {
		end(reasonShutdown)
	}
}
