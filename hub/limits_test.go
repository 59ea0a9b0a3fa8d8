package hub_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

// fromAddr serves h as if every request came from addr.
func fromAddr(t *testing.T, h *hub.Hub, addr *string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = *addr
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

func TestLimits_perAddress(t *testing.T) {
	for _, engine := range []bool{true, false} {
		t.Run(map[bool]string{true: "engine", false: "net/http"}[engine], func(t *testing.T) {
			h := newHub(t, hub.Config{MaxSubscribersPerAddr: 2, NoEngine: !engine}, hub.Retention{})
			addr := "192.0.2.7:1234"
			srv := fromAddr(t, h, &addr)
			first := get(t, srv.URL+"/events?topic=a")
			get(t, srv.URL+"/events?topic=a")
			resp := get(t, srv.URL+"/events?topic=a")
			if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "5" {
				t.Fatalf("third stream from one address: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if code, msg := status(t, srv.URL+"/events?topic=a"); code != 429 || !strings.Contains(msg, "too many streams from this address (at most 2)") {
				t.Errorf("message: %d %q", code, msg)
			}
			addr = "192.0.2.8:1234"
			if resp := get(t, srv.URL+"/events?topic=a"); resp.StatusCode != 200 {
				t.Errorf("another address: %d", resp.StatusCode)
			}
			// A stream that ends frees its place.
			first.Body.Close()
			addr = "192.0.2.7:1234"
			waitFor(t, func() bool {
				resp := get(t, srv.URL+"/events?topic=a")
				defer resp.Body.Close()
				return resp.StatusCode == 200
			})
		})
	}
}

func TestLimits_loopbackExempt(t *testing.T) {
	_, srv := newServer(t, hub.Config{MaxSubscribersPerAddr: 1})
	for i := range 3 {
		if resp := get(t, srv.URL+"/events?topic=a"); resp.StatusCode != 200 {
			t.Fatalf("stream %d from loopback: %d", i, resp.StatusCode)
		}
	}
}

// TestLimits_total: past the subscriber limit new streams are refused and
// the open ones go on receiving.
func TestLimits_total(t *testing.T) {
	h, srv := newServer(t, hub.Config{MaxSubscribers: 2})
	a := get(t, srv.URL+"/events?topic=a")
	b := get(t, srv.URL+"/events?topic=a")
	if code, msg := status(t, srv.URL+"/events?topic=a"); code != 429 || !strings.Contains(msg, "subscriber limit") {
		t.Errorf("third stream: %d %q", code, msg)
	}
	e := publish(t, h, msg("still here", "a"))
	for _, resp := range []*http.Response{a, b} {
		for ev, err := range sse.NewReader(resp.Body).Events() {
			if err != nil || ev.ID != e.ID {
				t.Errorf("open stream got %+v, %v", ev, err)
			}
			break
		}
	}
	if st := h.Stats(); st.Subscribers != 2 {
		t.Errorf("%d subscribers", st.Subscribers)
	}
}

func TestLimits_publishRate(t *testing.T) {
	// 0.1/s: the bucket cannot refill during the test, however slow.
	_, srv := newServer(t, hub.Config{PublishRate: 0.1, PublishBurst: 2, PublishKey: "k1"})
	form := url.Values{"topic": {"a"}, "data": {"x"}}
	for i := range 2 {
		if a := postForm(t, srv.URL, form, "Authorization", "Bearer k1"); a.status != 200 {
			t.Fatalf("publish %d within the burst: %d %v", i, a.status, a.body)
		}
	}
	a := postForm(t, srv.URL, form, "Authorization", "Bearer k1")
	retry, _ := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != 429 || retry < 1 || retry > 10 || !strings.Contains(a.body["error"], "at most 0.1 events per second per sender (burst 2)") {
		t.Errorf("past the burst: %d Retry-After %q %v", a.status, a.header.Get("Retry-After"), a.body)
	}
	// Another sender has a bucket of its own (and a wrong key is refused
	// by the key check, after its own charge).
	if a := postForm(t, srv.URL, form, "Authorization", "Bearer other"); a.status != 401 {
		t.Errorf("another sender: %d %v", a.status, a.body)
	}
}

func TestLimits_config(t *testing.T) {
	for _, cfg := range []hub.Config{{MaxSubscribers: -1}, {MaxSubscribersPerAddr: -1}, {PublishRate: -1}, {PublishBurst: -1}} {
		cfg.Store = memory.New(memory.Options{})
		if _, err := hub.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
