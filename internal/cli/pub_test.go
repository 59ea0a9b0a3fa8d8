package cli

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// After "--", herd pub takes every argument as the topic and the data,
// even one that looks like a flag: data "--close" is published, and closes
// nothing. The dashboard's generated commands rely on it.
func TestPub_dashDashEndsFlags(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sent []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		sent = append(sent, body)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"1"}`)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args        []string
		topic, data string
		event       string
		close       bool
	}{
		{[]string{"--", "news", "--close"}, "news", "--close", "", false},
		{[]string{"--", "-x", "-y"}, "-x", "-y", "", false},
		{[]string{"--event", "--", "news", "--close"}, "news", "", "--", true}, // that "--" is a value
		{[]string{"--close", "--", "news", "-h"}, "news", "-h", "", true},
		{[]string{"--event=t", "--", "--", "--"}, "--", "--", "t", false},
	} {
		mu.Lock()
		sent = nil
		mu.Unlock()
		code, _, errOut := runCLI(t, t.Context(), nil, append([]string{"pub", "--hub", srv.URL}, tc.args...)...)
		mu.Lock()
		got := slices.Clone(sent)
		mu.Unlock()
		if code != 0 || len(got) != 1 {
			t.Errorf("%q: exit %d, %s, %d publishes", tc.args, code, errOut, len(got))
			continue
		}
		b := got[0]
		topics, _ := b["topic"].([]any)
		data, hasData := b["data"].(string)
		event, _ := b["event"].(string)
		_, closes := b["close"]
		if len(topics) != 1 || topics[0] != tc.topic || event != tc.event || closes != tc.close ||
			(tc.data != "" && (!hasData || data != tc.data)) {
			t.Errorf("%q sent %v; want topic %q, data %q, event %q, close %v", tc.args, b, tc.topic, tc.data, tc.event, tc.close)
		}
	}
}

func TestTerminatorAt(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("close", false, "")
	fs.String("event", "", "")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--"}, 0},
		{[]string{"--close", "--", "a"}, 1},
		{[]string{"--event", "--", "a"}, -1},
		{[]string{"--event", "--", "--", "a"}, 2},
		{[]string{"-event=x", "--"}, 1},
		{[]string{"a", "--"}, -1},
		{[]string{"-", "--"}, -1},
		{[]string{"--nope", "--"}, -1},
	} {
		if got := terminatorAt(fs, tc.args); got != tc.want {
			t.Errorf("terminatorAt(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
