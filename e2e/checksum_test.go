//go:build linux && integration

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

// TestDamagedEvent: one byte of an event's data flipped in a herd.db that
// herd serve wrote. herd check names the event and exits 1; herd serve on
// the file serves the events around it, a gap naming it in its place,
// logs an error with its position and counts it in /metrics.
func TestDamagedEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herd.db")
	h := startHerd(t, "--store", "bolt:"+path)
	var ids []string
	for _, data := range []string{"one", "two", "three"} {
		ids = append(ids, mustPublish(t, h.URL, map[string]any{"topic": "c", "data": data}))
	}
	if code := h.sigterm(30 * time.Second); code != 0 {
		t.Fatalf("herd exited %d", code)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The record of "two" ends with its one topic ("c", 1 byte long) and
	// its data; bbolt may hold stale copies in free pages: flip them all.
	tail := []byte("\x01\x01ctwo")
	if bytes.Count(file, tail) == 0 {
		t.Fatal("the event's record is not in the file")
	}
	for i := bytes.Index(file, tail); i >= 0; {
		file[i+len(tail)-1] ^= 0x20 // "two" becomes "twO"
		j := bytes.Index(file[i+1:], tail)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	os.WriteFile(path, file, 0o600)

	code, out, errOut := runHerd(t, "", "check", "--store", "bolt:"+path)
	if code != 1 || !strings.Contains(out, fmt.Sprintf(`damaged event %s at position 2, topics ["c"]`, ids[1])) ||
		strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "1 of its 3 events are damaged") {
		t.Errorf("herd check: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	h = startHerd(t, "--store", "bolt:"+path)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a bound on a hung test, not a timing
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.URL+"/events?topic=c&last_event_id=earliest", nil)
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
	want := []string{" one", fmt.Sprintf(`gap {"damaged":%q}`, ids[1]), " three"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("replay: %q, want %q", got, want)
	}
	if n := metrics(t, h.URL)["herd_damaged_events_total"]; n != 1 {
		t.Errorf("herd_damaged_events_total = %v", n)
	}
	if log := h.stderr.String(); !strings.Contains(log, "stored event damaged") || !strings.Contains(log, "pos=2") {
		t.Errorf("herd logged no error for the damage:\n%s", log)
	}
}
