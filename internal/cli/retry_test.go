package cli

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// TestPub_retryHintZero: herd pub --retry-hint 0s sends "retry: 0" with
// the event (reconnect at once); without the flag the event has no retry.
func TestPub_retryHintZero(t *testing.T) {
	base, stop := startServe(t)
	defer stop()
	for _, args := range [][]string{{"--retry-hint", "0s", "r", "zero"}, {"r", "unset"}} {
		if code, _, errOut := runCLI(t, t.Context(), nil, append([]string{"pub", "--hub", base}, args...)...); code != 0 {
			t.Fatalf("pub %q: exit %d %s", args, code, errOut)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/events?topic=r&last_event_id=earliest", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	for r := bufio.NewReader(resp.Body); len(lines) == 0 || lines[len(lines)-1] != "data: unset"; {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %q: %v", lines, err)
		}
		if line = strings.TrimSuffix(line, "\n"); line != "" && !strings.HasPrefix(line, "id: ") && !strings.HasPrefix(line, ":") {
			lines = append(lines, line)
		}
	}
	// The stream's own hint first, then the events.
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "retry: ") || lines[1] != "retry: 0" || lines[2] != "data: zero" {
		t.Errorf("the stream: %q, want its hint, then retry: 0 with the first event only", lines)
	}
}
