package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// herd reopen opens a closed topic again in a durable store, so that a
// walkthrough runs twice; the hub logs it; mistakes are told.
func TestReopen(t *testing.T) {
	var logs syncBuffer
	base, stop := startServeWith(t, nil, &logs, "--store", "bolt:"+filepath.Join(t.TempDir(), "herd.db"))
	defer stop()
	run := func(args ...string) (int, string, string) {
		return runCLI(t, t.Context(), map[string]string{"HERD_HUB": base}, args...)
	}
	if code, _, errOut := run("pub", "--close", "news", "that's all"); code != 0 {
		t.Fatalf("pub --close: %d %s", code, errOut)
	}
	if code, _, errOut := run("pub", "news", "again"); code != 1 || !strings.Contains(errOut, `topic "news" is closed`) || !strings.Contains(errOut, "herd reopen news") {
		t.Errorf("pub to a closed topic: exit %d, %q; want the hint to reopen it", code, errOut)
	}
	code, out, errOut := run("reopen", "news", "other", "news")
	if code != 0 || !strings.HasPrefix(out, "news: reopened (it was closed at id ") || !strings.HasSuffix(out, "\nother: was open\n") {
		t.Errorf("reopen: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(logs.String(), "topic reopened") {
		t.Errorf("the hub did not log the reopen:\n%s", logs.String())
	}
	if code, _, errOut := run("pub", "news", "again"); code != 0 {
		t.Errorf("pub after reopen: exit %d %q", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"reopen"}, 2, "herd: reopen takes the topics to open again\nTry: herd reopen news\n"},
		{[]string{"reopen", "news/*"}, 1, "wildcards are for subscribing"},
		{[]string{"reopen", "--hub", "http://127.0.0.1:1", "news"}, 1, "is the hub running?"},
	} {
		if code, _, errOut := run(tc.args...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d %q, want %d with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
