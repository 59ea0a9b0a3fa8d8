package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A rawPoster sends publishes over one keep-alive HTTP/1.1 connection of
// its own, with requests written by hand and answers parsed just enough
// (status, Content-Length or chunked body). net/http's client costs the
// bench process tens of microseconds per request, on the same two cores
// as the hub; this costs a write and a read, so that a publish benchmark
// measures the hub rather than the client. One per worker goroutine.
type rawPoster struct {
	addr, head string // the request head up to Content-Length
	conn       net.Conn
	r          *bufio.Reader
	req        []byte
}

func newRawPoster(u *url.URL, contentType string, header http.Header) *rawPoster {
	var b strings.Builder
	b.WriteString("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: " + contentType + "\r\n")
	for k, vs := range header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("Content-Length: ")
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	return &rawPoster{addr: host, head: b.String()}
}

// post sends body and reads the answer, reconnecting first if needed.
func (p *rawPoster) post(body []byte) error {
	if p.conn == nil {
		c, err := net.DialTimeout("tcp", p.addr, 10*time.Second)
		if err != nil {
			return err
		}
		p.conn, p.r = c, bufio.NewReaderSize(c, 4096)
	}
	p.req = append(p.req[:0], p.head...)
	p.req = strconv.AppendInt(p.req, int64(len(body)), 10)
	p.req = append(p.req, "\r\n\r\n"...)
	p.req = append(p.req, body...)
	p.conn.SetDeadline(time.Now().Add(30 * time.Second))
	status, keep, err := p.exchange()
	if err != nil || !keep {
		p.conn.Close()
		p.conn = nil
	}
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("publish: %d %s", status, http.StatusText(status))
	}
	return nil
}

func (p *rawPoster) exchange() (status int, keep bool, err error) {
	if _, err := p.conn.Write(p.req); err != nil {
		return 0, false, err
	}
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("publish: bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("publish: bad status line %q", line)
	}
	length, chunked, keep := -1, false, true
	for {
		line, err := p.r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		h := bytes.TrimSpace(line)
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(value))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = p.skipChunked()
	case length >= 0:
		_, err = p.r.Discard(length)
	default: // the body runs to the end of the connection
		_, err = io.Copy(io.Discard, p.r)
		keep = false
	}
	return status, keep && err == nil, err
}

func (p *rawPoster) skipChunked() error {
	for {
		line, err := p.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
		if err != nil {
			return fmt.Errorf("publish: bad chunk size %q", line)
		}
		if _, err := p.r.Discard(int(size) + 2); err != nil { // the data and its CRLF
			return err
		}
		if size == 0 {
			return nil // (trailers are not expected)
		}
	}
}

func (p *rawPoster) close() {
	if p.conn != nil {
		p.conn.Close()
	}
}
