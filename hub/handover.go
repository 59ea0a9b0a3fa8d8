package hub

import (
	"bytes"
	"context"
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
func (h *Hub) serveHijacked(conn net.Conn, s *subscriber, extra http.Header, retry time.Duration) {
	conn.SetDeadline(time.Time{}) // the server's deadlines no longer apply
	write := func(bufs net.Buffers) (int64, error) {
		conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		n, err := bufs.WriteTo(conn) // one writev, no copy
		conn.SetWriteDeadline(time.Time{})
		return n, err
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
		conn.Close()
		h.unsubscribe(s, reasonClient)
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
			conn.Close()
			h.unsubscribe(s, reasonWrite)
			return
		}
	}
	if s.finished != 0 { // the replay ended with the close
		conn.Close()
		h.unsubscribe(s, s.finished)
		return
	}
	if err := h.engine.adopt(conn, s); err != nil {
		conn.Close()
		h.unsubscribe(s, reasonShutdown)
	}
}
