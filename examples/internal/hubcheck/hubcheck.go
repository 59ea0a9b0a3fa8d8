// Package hubcheck checks, as an example starts, that herd lets the
// example's pages read its streams, and prints the command that fixes it
// when it does not: a page refused by CORS gets nothing, and its browser
// says so nowhere a newcomer looks.
package hubcheck

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Origin is the origin of the pages an example serving on addr shows
// (":8002" serves http://localhost:8002).
func Origin(addr string) string {
	if strings.HasPrefix(addr, ":") {
		addr = "localhost" + addr
	}
	return "http://" + addr
}

// CORS asks the hub whether pages of origin may read its answers, as a
// browser would (GET /healthz with their Origin), and writes to w what to
// run when they may not, or when the hub does not answer. It reports
// whether they may.
func CORS(w io.Writer, hub, origin string) bool {
	start := fmt.Sprintf("go run ./cmd/herd --store memory --cors-origins %s", origin)
	u, err := url.Parse(strings.TrimSuffix(hub, "/") + "/healthz")
	if err != nil {
		fmt.Fprintf(w, "herd's URL %q: %v\n", hub, err)
		return false
	}
	req, _ := http.NewRequest("GET", u.String(), nil)
	req.Header.Set("Origin", origin)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(w, "herd does not answer at %s (%v).\nStart it, letting this example's pages in, from a clone of herd:\n    %s\n", hub, err, start)
		return false
	}
	resp.Body.Close()
	if allowed := resp.Header.Get("Access-Control-Allow-Origin"); allowed == origin || allowed == "*" {
		return true
	}
	fmt.Fprintf(w, "herd at %s does not let pages of %s read its streams: they would show nothing, and the browser would not say why.\n"+
		"Restart herd with this origin listed (add it to any --cors-origins it has), from a clone of herd:\n    %s\n", hub, origin, start)
	return false
}
