package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/sse"
)

// gatedStore holds the hub's follower back until gate is closed, so that
// a test can damage events in the file before the follower reads them.
type gatedStore struct {
	*Store
	gate chan struct{}
}

func (g gatedStore) Follow(ctx context.Context, after herd.Pos, fn func([]herd.Event) error) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.Follow(ctx, after, fn)
}

// syncBuffer is a log destination the test reads while the hub writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// damageInPlace clears the private flag of e's record in the file of an
// open store (every copy of it): a private event made public, the damage
// most worth catching.
func damageInPlace(t *testing.T, path string, e herd.Event) {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := recordsIn(t, file, e)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, i := range at {
		if _, err := f.WriteAt([]byte{file[i+5] &^ flagPrivate}, int64(i+5)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHub_damagedEvent runs a hub on a real bolt file in which one
// private event had its private flag cleared after it was stored. The
// follower meets it live, a replay meets it in the file: neither delivers
// it, public or not; every subscriber gets a gap naming it, in its place,
// and the events after it; the hub logs it and counts it.
func TestHub_damagedEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a bound on a hung test, not a timing
	defer cancel()
	logs := &syncBuffer{}
	store := gatedStore{Store: s, gate: make(chan struct{})}
	h, err := hub.New(hub.Config{Store: store, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := s.Append(ctx, herd.Message{Topics: []string{"a"}, Data: "before"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		done, stop := context.WithCancel(ctx)
		stop() // end subscriptions at once, not over the shutdown window
		h.Close(done)
	}()
	subA, err := h.Subscribe(ctx, []string{"a", "secret/x"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()
	subB, err := h.Subscribe(ctx, []string{"b"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()
	var stored []herd.Event
	for _, m := range []herd.Message{
		{Topics: []string{"secret/x"}, Data: "private payload", Private: true},
		{Topics: []string{"a"}, Data: "after"},
		{Topics: []string{"b"}, Data: "other"},
	} {
		e, _, err := h.Publish(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, e)
	}
	secret := stored[0]
	damageInPlace(t, path, secret)
	close(store.gate)

	wantGap := fmt.Sprintf(`{"damaged":%q}`, secret.ID)
	expect := func(who string, sub *hub.Subscription, want ...string) {
		t.Helper()
		for _, w := range want {
			e, err := sub.Next(ctx)
			got := e.Data
			if e.Type == hub.GapEvent {
				got = "gap " + e.Data
			}
			if err != nil || got != w {
				t.Fatalf("%s: got %q, %v; want %q", who, got, err, w)
			}
		}
	}
	expect("live subscriber of the damaged topic", subA, "gap "+wantGap, "after")
	expect("live subscriber of another topic", subB, "gap "+wantGap, "other")
	if n := h.Stats().DamagedEvents; n != 1 {
		t.Errorf("Stats.DamagedEvents = %d after the follower met one", n)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR msg=\"stored event damaged") || !strings.Contains(l, fmt.Sprintf("pos=%d", secret.Pos)) ||
		!strings.Contains(l, "secret/x") || !strings.Contains(l, "found_by=follower") {
		t.Errorf("the hub's log does not report the damage:\n%s", l)
	}

	// A resume from before it replays from the file (the replay cache
	// restarted after it), and meets it again.
	resumed, err := h.Subscribe(ctx, []string{"a", "secret/x"}, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	expect("resume from before the damage", resumed, "gap "+wantGap, "after")
	if n := h.Stats().DamagedEvents; n != 2 {
		t.Errorf("Stats.DamagedEvents = %d after a replay met it too", n)
	}

	// Over HTTP, an anonymous subscriber (who may not read private events)
	// replaying everything: the event made public is not served.
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events?topic=secret/x&topic=a&last_event_id=earliest", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := sse.NewReader(resp.Body)
	var got []string
	for len(got) < 3 {
		e, err := rd.Next()
		if err != nil {
			t.Fatalf("stream ended after %q: %v", got, err)
		}
		got = append(got, e.Type+" "+e.Data)
	}
	want := []string{" before", "gap " + wantGap, " after"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("replay over HTTP: %q, want %q", got, want)
	}
	var gap struct{ Damaged string }
	if json.Unmarshal([]byte(strings.TrimPrefix(got[1], "gap ")), &gap); gap.Damaged != secret.ID {
		t.Errorf("the gap names %q, want %q", gap.Damaged, secret.ID)
	}
}
