package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

// The publish fuzzer's content types: the three the hub reads, and two it
// must refuse.
var fuzzContentTypes = []string{
	"application/x-www-form-urlencoded",
	"multipart/form-data; boundary=B",
	"application/json",
	"text/plain",
	"",
}

// FuzzPublish posts arbitrary bodies and headers to the hub. Whatever the
// input: the answer is JSON, {"id"} with 200 or {"error"} with a 4xx, never
// a 5xx or a panic; an accepted event is delivered under the id answered,
// its fields within the limits and free of anything that could break the
// wire format, and encoded it reads back as exactly that one event.
func FuzzPublish(f *testing.F) {
	seeds := []struct {
		ct                 uint8
		body, idem, header string
	}{
		{0, "topic=a&data=hello", "", ""},
		{0, "topic=a&topic=b&data=line+1%0D%0Aline+2&event=note&retry=2500&id=x", "k1", ""},
		{0, "topic=a&data=x&event=t%0D%0Aevent:%20evil", "", ""},
		{0, "topic=a&close=true", "", ""},
		{0, "topic=a/**&data=x&private=on", "", "Bearer nope"},
		{0, "topic=a&data=%FF&retry=99999999999999999999", "", ""},
		{1, "--B\r\nContent-Disposition: form-data; name=\"topic\"\r\n\r\nm\r\n--B\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nfrom curl -F\r\n--B--\r\n", "", ""},
		{1, "--B\r\nContent-Disposition: form-data; name=\"data\"; filename=\"f\"\r\n\r\nx\r\n--B--", "", ""},
		{2, `{"topic": ["b", "c"], "data": {"n": 1}, "event": "json", "retry": 1e300}`, "", ""},
		{2, `{"topic": "d", "data": "plain\u0000string", "close": true, "private": true}`, "k2", ""},
		{2, `{"topic": "d", "data": "x"} trailing`, "", ""},
		{3, "topic=a&data=x", "", ""},
		{4, "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.ct, s.body, s.idem, s.header)
	}
	const maxSize = 4096
	store := memory.New(memory.Options{StoreOptions: herd.StoreOptions{Retention: herd.Retention{MaxEvents: 1000}}})
	f.Cleanup(func() { store.Close() })
	h := newHub(f, hub.Config{Store: store, MaxEventSize: maxSize, MaxPublishTopics: 4}, herd.Retention{})
	sub, err := h.Subscribe(context.Background(), []string{"**"}, "")
	if err != nil {
		f.Fatal(err)
	}
	defer sub.Close()
	seen := map[string]bool{}
	markerTopic := fmt.Sprintf("marker-%d", time.Now().UnixNano()) // no input can close it

	f.Fuzz(func(t *testing.T, ct uint8, body, idempotencyKey, authorization string) {
		req := httptest.NewRequest("POST", "http://localhost/events", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:1234" // trusted: no key configured
		req.Header.Set("Content-Type", fuzzContentTypes[int(ct)%len(fuzzContentTypes)])
		if idempotencyKey != "" {
			req.Header["Idempotency-Key"] = []string{idempotencyKey}
		}
		if authorization != "" {
			req.Header["Authorization"] = []string{authorization}
		}
		w := httptest.NewRecorder()
		stop := watchdog(t, "the publish")
		h.ServeHTTP(w, req)
		stop()

		var answer map[string]string
		if mt, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type")); mt != "application/json" {
			t.Fatalf("answer %d with Content-Type %q: %q", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answer %d is not a JSON object: %q", w.Code, w.Body)
		}
		if w.Code != 200 {
			if w.Code < 400 || w.Code >= 500 || answer["error"] == "" {
				t.Fatalf("answer %d %v: want a 4xx with an error", w.Code, answer)
			}
			return
		}
		id := answer["id"]
		if id == "" {
			t.Fatalf("200 without an id: %v", answer)
		}
		if seen[id] {
			return // an idempotent replay: nothing new is published
		}
		seen[id] = true
		// A marker published after it bounds the wait: the event comes
		// before it, unless it was a close without data, which ends
		// subscriptions but is not delivered as an event.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		marker, _, err := h.Publish(ctx, herd.Message{Topics: []string{markerTopic}, Data: "marker"})
		if err != nil {
			t.Fatal(err)
		}
		delivered := false
		for {
			e, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("published %s, then the marker %s: %v", id, marker.ID, err)
			}
			if e.ID == marker.ID {
				break
			}
			if e.ID != id || delivered {
				t.Fatalf("published %s, delivered %+v", id, e)
			}
			delivered = true
			checkEvent(t, e, maxSize)
		}
		if !delivered && !closeWithoutData(t, store, id) {
			t.Fatalf("published %s, never delivered", id)
		}
	})
}

// closeWithoutData reports whether the event stored as id is a close that
// carries no data, which ends subscriptions but is not delivered. It asks
// the store, not the body: JSON keys match case-insensitively and forms
// escape names, so "close" need not appear in the body.
func closeWithoutData(t *testing.T, store herd.Store, id string) bool {
	t.Helper()
	events, _, err := store.Read(context.Background(), 0, herd.Limit{Events: 2000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.ID == id {
			return e.Close && e.NoData
		}
	}
	t.Fatalf("published %s, not in the store", id)
	return false
}

// watchdog fails the fuzzer on a hang (which it would otherwise only
// show as "0 execs/sec"): after 10s it panics with every goroutine's stack.
func watchdog(t *testing.T, what string) (stop func()) {
	timer := time.AfterFunc(10*time.Second, func() {
		buf := make([]byte, 1<<20)
		panic(fmt.Sprintf("%s hung for 10s:\n%s", what, buf[:runtime.Stack(buf, true)]))
	})
	return func() { timer.Stop() }
}

// checkEvent checks what the hub accepted: limits kept, fields encodable,
// and the encoding reads back as that one event.
func checkEvent(t *testing.T, e herd.Event, maxSize int) {
	t.Helper()
	if len(e.Topics) == 0 || len(e.Topics) > 4 {
		t.Fatalf("%d topics: %q", len(e.Topics), e.Topics)
	}
	for _, topic := range e.Topics {
		if err := herd.ValidateTopic(topic); err != nil {
			t.Fatalf("stored topic %q: %v", topic, err)
		}
	}
	if len(e.Data) > maxSize || !utf8.ValidString(e.Data) || !utf8.ValidString(e.Type) {
		t.Fatalf("stored data of %d bytes, valid UTF-8 %v, type %q", len(e.Data), utf8.ValidString(e.Data), e.Type)
	}
	if e.Retry < 0 || e.Retry > herd.MaxRetry {
		t.Fatalf("stored retry %v", e.Retry)
	}
	if e.NoData {
		return
	}
	frame, err := sse.NewFrame(sse.Event{ID: e.ID, Type: e.Type, Data: e.Data, Retry: e.Retry})
	if err != nil {
		t.Fatalf("the hub accepted what cannot be sent: %v (%+v)", err, e)
	}
	var n int
	for got, err := range sse.Read(strings.NewReader(string(frame.Bytes()))) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(e.Data)
		if got.ID != e.ID || got.Type != e.Type || got.Data != want {
			t.Fatalf("read back %+v, sent %+v", got, e)
		}
	}
	if n != 1 {
		t.Fatalf("one event read back as %d", n)
	}
}

// FuzzSubscribe opens streams with arbitrary queries, Last-Event-ID and
// one more header of any name (Origin, Host, Authorization, Cookie…), on a hub with history and a closed topic. Whatever the input:
// a 200 is an event stream that opens with the retry hint, a 204 has no
// body, and any other answer is a 4xx with a JSON error.
func FuzzSubscribe(f *testing.F) {
	for _, s := range [][3]string{
		{"topic=a", "", ""},
		{"topic=a&topic=b/*&last_event_id=earliest", "", "Origin: https://evil.example"},
		{"topic=**", "earliest", "Host: rebind.evil.example"},
		{"topic=a/**/b", "", "Authorization: Bearer x.y.z"},
		{"topic=a**", "", "Cookie: herdAuthorization=a.b.c"},
		{"topic=closed", "earliest", ""},
		{"topic=a&last_event_id=%zz", "", "Accept: text/html"},
		{"topic=a", "not-an-id\x00", ""},
		{"topic=a&topic=b&topic=c&topic=d&topic=e", "", ""},
		{"topic=", "0-0", "X-Forwarded-For: 203.0.113.9"},
		{"prefix=a%zz", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	h := newHub(f, hub.Config{MaxSubscribeTopics: 4}, herd.Retention{MaxEvents: 100})
	for _, m := range []herd.Message{
		{Topics: []string{"a"}, Data: "one"},
		{Topics: []string{"b/c"}, Data: "two"},
		{Topics: []string{"closed"}, Data: "last", Close: true},
	} {
		if _, _, err := h.Publish(context.Background(), m); err != nil {
			f.Fatal(err)
		}
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	f.Fuzz(func(t *testing.T, query, lastEventID, header string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = query
		if !validHeaderValue(lastEventID) || strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return // a request net/http refuses before the hub sees it
		}
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		if name, value, ok := strings.Cut(header, ":"); ok {
			value = strings.TrimSpace(value)
			if !validHeaderName(name) || !validHeaderValue(value) {
				return
			}
			if strings.EqualFold(name, "Host") {
				req.Host = value
			} else {
				req.Header.Set(name, value)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return // a query net/http will not send
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == 200:
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("200 with Content-Type %q", ct)
			}
			first := make([]byte, 7)
			if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "retry: " {
				t.Fatalf("the stream opens with %q (%v), want the retry hint", first, err)
			}
		case resp.StatusCode == 204:
			if b, _ := io.ReadAll(resp.Body); len(b) != 0 {
				t.Fatalf("204 with a body: %q", b)
			}
		default:
			var answer map[string]string
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || json.Unmarshal(b, &answer) != nil || answer["error"] == "" {
				t.Fatalf("answer %d %q: want a 4xx with a JSON error", resp.StatusCode, b)
			}
		}
	})
}

// validHeaderName reports whether net/http sends name as a header name.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether net/http sends v as a header value.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
