package hub_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
)

// TestBodyTimeout: a client that sends a publish's headers and then
// trickles its body is cut off after BodyTimeout, credentials or not,
// instead of holding its connection (and a file descriptor) for ever: an
// outside probe held 3000 such connections, unauthenticated, on a hub
// whose file limit was 20000. A body that arrives is published, and the
// deadline does not outlive its request on a kept-alive connection.
func TestBodyTimeout(t *testing.T) {
	h := newHub(t, hub.Config{BodyTimeout: 50 * time.Millisecond, PublishKey: "k"}, herd.Retention{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The answer must come from the hub's deadline, long before this one.
	conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write([]byte("POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntopic=a")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatal("a trickled body held its connection for a minute")
	case err == nil:
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("a body cut off: %s", resp.Status)
		}
	} // else the hub closed the connection: cut off too

	// A whole body, twice on one connection, the second after the first
	// request's deadline has passed.
	c := srv.Client()
	for i := range 2 {
		req, _ := http.NewRequest("POST", srv.URL+"/events", strings.NewReader("topic=a&data=whole"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer k")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("publish %d: %s", i, resp.Status)
		}
		time.Sleep(100 * time.Millisecond) // past the first deadline: the next request must not inherit it
	}
}
