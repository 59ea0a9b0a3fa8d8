package hub_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

// Embed a hub in a Go program: it is an http.Handler. Here a backend
// publishes two events and closes the topic; a subscriber that resumes
// from the first event gets the rest, then the close.
func Example() {
	store := memory.New(memory.Options{})
	defer store.Close()
	h, err := hub.New(hub.Config{Store: store})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := h.Open(ctx); err != nil {
		panic(err)
	}
	defer h.Close(ctx)
	srv := httptest.NewServer(h)
	defer srv.Close()

	publish := func(form url.Values) string {
		resp, err := http.Post(srv.URL+"/events", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var answer struct{ ID string }
		fmt.Sscanf(mustRead(resp), `{"id":%q}`, &answer.ID)
		return answer.ID
	}
	first := publish(url.Values{"topic": {"orders/42"}, "data": {"paid"}})
	publish(url.Values{"topic": {"orders/42"}, "data": {"shipped"}})
	publish(url.Values{"topic": {"orders/42"}, "close": {"true"}})

	req, _ := http.NewRequest("GET", srv.URL+"/events?topic=orders/42", nil)
	req.Header.Set("Last-Event-ID", first)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	for e, err := range sse.Read(resp.Body) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s\n", cmp.Or(e.Type, "message"), e.Data)
	}
	// Output:
	// message: shipped
	// close: {"topics":["orders/42"]}
}

func mustRead(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return strings.TrimSpace(b.String())
		}
	}
}

// A token's subscribe grant covers a selector when every topic the
// selector matches is granted: that is what Config.SubscribeAuth checks.
func ExampleCovers() {
	fmt.Println(hub.Covers("orders/*", "orders/42"))
	fmt.Println(hub.Covers("orders/*", "orders/**"))
	fmt.Println(hub.Covers("orders/**", "orders/*/items"))
	// Output:
	// true
	// false
	// true
}
