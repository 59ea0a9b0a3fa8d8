package hub_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/hub"
)

// TestHTTP_retryZero: a publish with retry 0, from a form or JSON, is
// sent as "retry: 0" (reconnect at once), live and in a replay; a publish
// without retry (or a JSON null) sends none.
func TestHTTP_retryZero(t *testing.T) {
	for _, cache := range []int{0, -1} { // replays from the replay cache, and from the store
		_, srv := newServer(t, hub.Config{ReplayCache: cache})
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a bound on a hung test, not a timing
		defer cancel()
		live := stream(t, ctx, srv.URL+"/events?topic=r")
		var ids []string
		for _, p := range []func() answer{
			func() answer {
				return postForm(t, srv.URL, url.Values{"topic": {"r"}, "data": {"form zero"}, "retry": {"0"}})
			},
			func() answer { return postJSON(t, srv.URL, `{"topic": "r", "data": "json zero", "retry": 0}`) },
			func() answer { return postForm(t, srv.URL, url.Values{"topic": {"r"}, "data": {"form unset"}}) },
			func() answer { return postJSON(t, srv.URL, `{"topic": "r", "data": "json null", "retry": null}`) },
			func() answer { return postJSON(t, srv.URL, `{"topic": "r", "data": "json 1500", "retry": 1500}`) },
		} {
			a := p()
			if a.status != 200 {
				t.Fatalf("publish: %d %v", a.status, a.body)
			}
			ids = append(ids, a.body["id"])
		}
		want := []string{
			"id: " + ids[0] + "\nretry: 0\ndata: form zero",
			"id: " + ids[1] + "\nretry: 0\ndata: json zero",
			"id: " + ids[2] + "\ndata: form unset",
			"id: " + ids[3] + "\ndata: json null",
			"id: " + ids[4] + "\nretry: 1500\ndata: json 1500",
		}
		replay := stream(t, ctx, srv.URL+"/events?topic=r&last_event_id=earliest")
		for name, s := range map[string]*bufio.Reader{"live": live, "replay": replay} {
			for i, w := range want {
				if got := block(t, s); got != w {
					t.Errorf("cache %d, %s: event %d on the wire:\n%s\nwant\n%s", cache, name, i, got, w)
				}
			}
		}
	}
}

// stream opens an event stream and returns its body, its opening retry
// hint read.
func stream(t *testing.T, ctx context.Context, u string) *bufio.Reader {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	r := bufio.NewReader(resp.Body)
	if hint := block(t, r); !strings.HasPrefix(hint, "retry: ") || strings.Contains(hint, "data:") {
		t.Fatalf("the stream opened with %q, not a retry hint", hint)
	}
	return r
}

// block returns the next block of field lines of r, comments left out.
func block(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %q: %v", lines, err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && len(lines) > 0:
			return strings.Join(lines, "\n")
		case line == "" || strings.HasPrefix(line, ":"):
		default:
			lines = append(lines, line)
		}
	}
}
