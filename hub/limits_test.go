package hub_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/jwt"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

// fromAddr serves h as if every request came from the address addr
// holds; the test may change it between requests (streams still open may
// read it meanwhile, hence the atomic).
func fromAddr(t *testing.T, h *hub.Hub, addr *atomic.Value) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = addr.Load().(string)
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
			h := newHub(t, hub.Config{MaxSubscribersPerAddr: 2, NoEngine: !engine}, herd.Retention{})
			var addr atomic.Value
			addr.Store("192.0.2.7:1234")
			srv := fromAddr(t, h, &addr)
			first := get(t, srv.URL+"/events?topic=a")
			get(t, srv.URL+"/events?topic=a")
			resp := get(t, srv.URL+"/events?topic=a")
			if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "5" {
				t.Fatalf("third stream from one address: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if code, msg := status(t, srv.URL+"/events?topic=a"); code != 429 || !strings.Contains(msg, "too many streams from this address (at most 2, the hub's Config.MaxSubscribersPerAddr)") {
				t.Errorf("message: %d %q", code, msg)
			}
			addr.Store("192.0.2.8:1234")
			if resp := get(t, srv.URL+"/events?topic=a"); resp.StatusCode != 200 {
				t.Errorf("another address: %d", resp.StatusCode)
			}
			// A stream that ends frees its place.
			first.Body.Close()
			addr.Store("192.0.2.7:1234")
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
	if a.status != 429 || retry < 1 || retry > 10 || !strings.Contains(a.body["error"], "at most 0.1 events per second per sender, 2 at once (the hub's Config.PublishRate and Config.PublishBurst)") {
		t.Errorf("past the burst: %d Retry-After %q %v", a.status, a.header.Get("Retry-After"), a.body)
	}
	// A wrong key is refused by the key check, before any charge.
	if a := postForm(t, srv.URL, form, "Authorization", "Bearer other"); a.status != 401 {
		t.Errorf("another sender: %d %v", a.status, a.body)
	}
}

// TestLimits_publishRateIdentity: only a credential the hub checked names
// a sender. Without keys, made-up Authorization headers all share their
// address's bucket; with token auth, each valid token has its own.
func TestLimits_publishRateIdentity(t *testing.T) {
	_, srv := newServer(t, hub.Config{PublishRate: 0.1, PublishBurst: 1})
	form := url.Values{"topic": {"a"}, "data": {"x"}}
	if a := postForm(t, srv.URL, form); a.status != 200 {
		t.Fatalf("first publish: %d %v", a.status, a.body)
	}
	for i := range 3 {
		if a := postForm(t, srv.URL, form, "Authorization", fmt.Sprintf("Bearer made-up-%d", i)); a.status != 429 {
			t.Errorf("publish with a made-up credential %d: %d %v, want 429 (the address's bucket)", i, a.status, a.body)
		}
	}

	mint, auth := tokens(t)
	_, withAuth := newServer(t, hub.Config{Auth: auth, PublishRate: 0.1, PublishBurst: 1})
	tok1 := "Bearer " + mint(jwt.Claims{Publish: []string{"**"}})
	tok2 := "Bearer " + mint(jwt.Claims{Publish: []string{"**"}, Expires: time.Now().Add(time.Hour)})
	for i, tc := range []struct {
		auth   string
		status int
	}{{tok1, 200}, {tok1, 429}, {tok2, 200}, {"Bearer x.y.z", 401}, {tok2, 429}} {
		if a := postForm(t, withAuth.URL, form, "Authorization", tc.auth); a.status != tc.status {
			t.Errorf("publish %d: %d %v, want %d", i, a.status, a.body, tc.status)
		}
	}
}

// TestLimits_ipv6Block: an IPv6 host can use every address of its /64, so
// the per-address limits count a /64 as one client.
func TestLimits_ipv6Block(t *testing.T) {
	h := newHub(t, hub.Config{MaxSubscribersPerAddr: 2, NoEngine: true}, herd.Retention{})
	var addr atomic.Value
	addr.Store("[2001:db8:1:2::1]:1234")
	srv := fromAddr(t, h, &addr)
	get(t, srv.URL+"/events?topic=a")
	addr.Store("[2001:db8:1:2::2]:1234")
	get(t, srv.URL+"/events?topic=a")
	addr.Store("[2001:db8:1:2:ffff:ffff:ffff:ffff]:1234")
	if code, msg := status(t, srv.URL+"/events?topic=a"); code != 429 {
		t.Errorf("third stream from one /64: %d %q", code, msg)
	}
	addr.Store("[2001:db8:1:3::1]:1234")
	if code, msg := status(t, srv.URL+"/events?topic=a"); code != 200 {
		t.Errorf("a stream from another /64: %d %q", code, msg)
	}
}

// TestLimits_tinyRate: a rate so low that the wait would overflow still
// gets a sane Retry-After.
func TestLimits_tinyRate(t *testing.T) {
	_, srv := newServer(t, hub.Config{PublishRate: 1e-300, PublishKey: "k"})
	form := url.Values{"topic": {"a"}, "data": {"x"}}
	postForm(t, srv.URL, form, "Authorization", "Bearer k")
	a := postForm(t, srv.URL, form, "Authorization", "Bearer k")
	if retry, err := strconv.Atoi(a.header.Get("Retry-After")); a.status != 429 || err != nil || retry != 3600 {
		t.Errorf("past a tiny rate: %d Retry-After %q", a.status, a.header.Get("Retry-After"))
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
