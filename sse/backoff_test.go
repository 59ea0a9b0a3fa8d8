package sse_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herd-sse/herd/sse"
)

// roundTripFunc is a fake transport, so that reconnection timing can be
// tested in a synctest bubble with fake time.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func streamResponse(body string) *http.Response {
	return &http.Response{
		StatusCode: 200, Status: "200 OK",
		Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body:   io.NopCloser(strings.NewReader(body)),
	}
}

// attempts records when each connection was attempted.
func attemptTimes(t *testing.T, client *sse.Client, script func(n int) (*http.Response, error), until int) []time.Duration {
	t.Helper()
	start := time.Now()
	var at []time.Duration
	client.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		at = append(at, time.Since(start))
		return script(len(at))
	})}
	sub := client.Subscribe(t.Context(), httpGet("http://fake/"))
	defer sub.Close()
	for len(at) < until {
		if _, err := sub.Next(); err != nil {
			t.Fatalf("Next: %v", err)
		}
	}
	return at
}

func httpGet(url string) *http.Request {
	req, _ := http.NewRequest("GET", url, nil)
	return req
}

var errRefused = errors.New("connection refused")

func TestClient_backoffWhileFailing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &sse.Client{Retry: time.Second, MaxBackoff: 8 * time.Second}
		at := attemptTimes(t, client, func(n int) (*http.Response, error) {
			if n == 7 {
				return streamResponse("data: up\n\n"), nil
			}
			return nil, errRefused
		}, 7)
		// Gap n (between attempts n and n+1) is jittered within [d/2, d].
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
		for i, d := range want {
			gap := at[i+1] - at[i]
			if gap < d/2 || gap > d {
				t.Errorf("gap %d = %v, want within [%v, %v]", i+1, gap, d/2, d)
			}
		}
	})
}

// TestClient_backoffResets checks that a connection that delivered an
// event resets the backoff, and that the stream's retry: sets the delay.
func TestClient_backoffResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &sse.Client{Retry: time.Second}
		at := attemptTimes(t, client, func(n int) (*http.Response, error) {
			switch n {
			case 1, 2, 3:
				return nil, errRefused
			case 4:
				return streamResponse("retry: 10000\ndata: x\n\n"), nil // then EOF
			}
			return streamResponse("data: y\n\n"), nil
		}, 5)
		if gap := at[3] - at[2]; gap < 2*time.Second {
			t.Errorf("third failure gap %v: not backing off", gap)
		}
		if gap := at[4] - at[3]; gap < 5*time.Second || gap > 10*time.Second {
			t.Errorf("gap after a good connection = %v, want the stream's retry (10s) jittered", gap)
		}
	})
}

// TestClient_noTightLoop checks that a zero retry delay cannot turn
// repeated failures into a busy loop.
func TestClient_noTightLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &sse.Client{Retry: time.Nanosecond, MaxBackoff: time.Second}
		at := attemptTimes(t, client, func(n int) (*http.Response, error) {
			if n == 8 {
				return streamResponse("data: up\n\n"), nil
			}
			return nil, errRefused
		}, 8)
		if total := at[7] - at[0]; total < time.Second {
			t.Errorf("7 failed attempts in %v: a tight loop", total)
		}
		for i := 2; i < 7; i++ {
			if gap := at[i+1] - at[i]; gap < 50*time.Millisecond {
				t.Errorf("gap %d = %v", i, gap)
			}
		}
	})
}

// TestClient_reconnectHookSeesDelay checks the hook is told the delay the
// client then waits.
func TestClient_reconnectHookSeesDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var delays []time.Duration
		client := &sse.Client{Retry: 3 * time.Second, Reconnect: func(err error, d time.Duration) bool {
			if err != io.EOF {
				t.Errorf("reason %v, want io.EOF", err)
			}
			delays = append(delays, d)
			return true
		}}
		at := attemptTimes(t, client, func(int) (*http.Response, error) {
			return streamResponse("data: x\n\n"), nil
		}, 3)
		for i, d := range delays[:2] {
			if gap := at[i+1] - at[i]; gap != d {
				t.Errorf("waited %v, hook was told %v", gap, d)
			}
		}
	})
}
