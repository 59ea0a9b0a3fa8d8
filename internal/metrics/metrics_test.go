package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/metrics"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/sse"
)

func TestHandler(t *testing.T) {
	h, err := hub.New(hub.Config{Store: memory.New(memory.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/events?topic=a")
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := h.Publish(t.Context(), herd.Message{Topics: []string{"a"}, Data: "hello", Close: true})
	if err != nil {
		t.Fatal(err)
	}
	for ev, err := range sse.NewReader(resp.Body).Events() {
		if err != nil || ev.ID != e.ID {
			t.Fatalf("%+v %v", ev, err)
		}
		break
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	rec := httptest.NewRecorder()
	metrics.Handler(h, func() int { return 7 }).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		"herd_events_published_total 1",
		"herd_events_delivered_total 2", // the event and the close
		"herd_http_connections 7",
		`herd_publish_store_seconds_count 1`,
		`herd_publish_store_seconds_bucket{le="+Inf"} 1`,
		`herd_disconnects_total{reason="slow"} 0`,
		"herd_store_errors_total 0",
		"herd_damaged_events_total 0",
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "herd_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
