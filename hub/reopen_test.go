package hub_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

// syncBuffer is a log destination safe for the hub's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A reopened topic takes events again: live subscribers and those resuming
// after the close get them; one resuming before the close replays across
// it (the close's data, not the close event: the topic lives on). The
// reopen is logged.
func TestReopen(t *testing.T) {
	var logs syncBuffer
	h := newHub(t, hub.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, herd.Retention{})
	live := subscribe(t, h, "", "*") // a wildcard outlives closes
	first := publish(t, h, msg("one", "news"))
	end := publish(t, h, herd.Message{Topics: []string{"news"}, Data: "bye", Close: true})
	if _, _, err := h.Publish(t.Context(), msg("refused", "news")); !errors.As(err, new(*herd.TopicClosedError)) {
		t.Fatalf("publish to a closed topic: %v", err)
	}
	got, err := h.Reopen(t.Context(), []string{"news", "other", "news"})
	if err != nil || len(got) != 1 || got["news"] != end.ID {
		t.Fatalf("Reopen = %v, %v; want news closed at %s", got, err, end.ID)
	}
	if !strings.Contains(logs.String(), "topic reopened") || !strings.Contains(logs.String(), "closed_at="+end.ID) {
		t.Errorf("the reopen is not logged: %s", logs.String())
	}
	afterClose := subscribe(t, h, end.ID, "news")
	beforeClose := subscribe(t, h, first.ID, "news")
	publish(t, h, msg("two", "news"))
	expect(t, live, "one", "bye", "two")
	expect(t, afterClose, "two")
	expect(t, beforeClose, "bye", "two")
	// Replayed later, from the start, the same.
	expect(t, subscribe(t, h, hub.EarliestID, "news"), "one", "bye", "two")
	// Closed again, it ends them all.
	publish(t, h, herd.Message{Topics: []string{"news"}, Data: "bye again", Close: true})
	for _, s := range []*hub.Subscription{afterClose, beforeClose} {
		expect(t, s, "bye again", "<close>")
		expectEnd(t, s, io.EOF)
	}
}

func TestReopen_refused(t *testing.T) {
	h := newHub(t, hub.Config{}, herd.Retention{})
	for _, tc := range []struct {
		topics []string
		want   string
	}{
		{nil, "topic is required"},
		{[]string{"a/*"}, "wildcards are for subscribing"},
		{[]string{""}, "empty topic"},
	} {
		if _, err := h.Reopen(t.Context(), tc.topics); hub.CodeOf(err) != hub.EInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Reopen(%q) = %v, want invalid: %q", tc.topics, err, tc.want)
		}
	}
	// A store that cannot reopen says so.
	store := memory.New(memory.Options{})
	defer store.Close()
	plain := newHub(t, hub.Config{Store: struct{ herd.Store }{store}}, herd.Retention{})
	if _, err := plain.Reopen(t.Context(), []string{"a"}); hub.CodeOf(err) != hub.EConflict || !errors.Is(err, hub.ErrCannotReopen) && !strings.Contains(err.Error(), "cannot reopen") {
		t.Errorf("Reopen on a store that cannot: %v", err)
	}
}

func TestHTTP_reopen(t *testing.T) {
	h, srv := newServer(t, hub.Config{PublishKey: "k"})
	publish(t, h, herd.Message{Topics: []string{"news"}, Data: "bye", Close: true})
	post := func(ctype, body string, headers ...string) answer {
		req, _ := http.NewRequest("POST", srv.URL+"/topics/reopen", strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{status: resp.StatusCode, body: map[string]string{"raw": string(b)}}
	}
	form := "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, ctype, body string
		headers           []string
		status            int
		want              string
	}{
		{"no credential", form, "topic=news", nil, 401, "publishing needs Authorization: Bearer <publish key>"},
		{"wrong key", form, "topic=news", []string{"Authorization", "Bearer nope"}, 401, ""},
		{"JSON", "application/json", `{"topic": "news"}`, []string{"Authorization", "Bearer k"}, 415, "curl -d topic=news"},
		{"unknown field", form, "topic=news&data=x", []string{"Authorization", "Bearer k"}, 400, `unknown field \"data\"`},
		{"no topic", form, "", []string{"Authorization", "Bearer k"}, 400, "topic is required"},
		{"wildcard", form, "topic=news/*", []string{"Authorization", "Bearer k"}, 400, "wildcards"},
		{"reopened", form, "topic=news&topic=open", []string{"Authorization", "Bearer k"}, 200, `{"reopened":{"news":"`},
		{"again: nothing to reopen", form, "topic=news", []string{"Authorization", "Bearer k"}, 200, `{"reopened":{}}`},
	} {
		a := post(tc.ctype, tc.body, tc.headers...)
		if a.status != tc.status || !strings.Contains(a.body["raw"], tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, a.status, a.body["raw"], tc.status, tc.want)
		}
	}
	publish(t, h, msg("back", "news"))
}
