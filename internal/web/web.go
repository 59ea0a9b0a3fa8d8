// Package web holds what the herd binary serves to browsers: the
// dashboard, its counters as JSON, the vendored htmx builds and the pages'
// stylesheet. There is no build step; the files are embedded as they are
// in the repository.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/herd-sse/herd/hub"
)

//go:embed static
var files embed.FS

// The dashboard's template is not under static/: it is served rendered,
// at /, and only there.
//
//go:embed index.html
var indexFile embed.FS

// ContentSecurityPolicy is the policy of every page herd serves: scripts,
// styles, images and connections from the hub's own origin only, no
// inline script or style and no eval, so that event data or a topic name
// that reaches a page as markup still cannot run; no plugins, no <base>,
// no framing (clickjacking), forms posted only to the hub.
// It is the hub's: the route table sets it on every page route too.
const ContentSecurityPolicy = hub.PageCSP

// SetPageHeaders sets the headers that every page and static file herd
// serves carries: the ContentSecurityPolicy, no MIME sniffing (a stream
// or JSON answer is never read as a page), no framing, and no revealing
// referrer. Pages served by herd, herd's or the demo's, go through it.
func SetPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
}

// Static serves the embedded files under /static/ (scripts, styles and the
// vendored htmx), each with the page headers.
func Static() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	fileServer := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache") // revalidated: a new herd serves new files
		SetPageHeaders(w.Header())
		// Files only: no directory listings (nor index.html, which the
		// file server would redirect to one).
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, "/index.html") {
			http.NotFound(w, r)
			return
		}
		fileServer.ServeHTTP(w, r)
	})
}

// UI is what the dashboard needs to know of the hub's settings. None of
// it is secret: the page is served to anyone who can reach the hub.
type UI struct {
	Auth  bool   // token auth is on: the page asks for a token
	Store string // the store, described
	Demo  bool   // herd serve --demo: the demo's hub pages are served
}

var index = template.Must(template.ParseFS(indexFile, "index.html"))

// Index serves the dashboard.
func Index(ui UI) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		SetPageHeaders(w.Header())
		if err := index.Execute(w, ui); err != nil {
			http.Error(w, "the dashboard could not be rendered", http.StatusInternalServerError)
		}
	})
}

// stats is the JSON of /api/stats.
type stats struct {
	Time           time.Time        `json:"time"`
	Subscribers    int              `json:"subscribers"`
	Parked         int              `json:"parked"`
	Published      int64            `json:"published"`
	Delivered      int64            `json:"delivered"`
	Replayed       int64            `json:"replayed"`
	BytesWritten   int64            `json:"bytes_written"`
	StoreErrors    int64            `json:"store_errors"`
	QueueHighWater int64            `json:"queue_high_water"`
	Ended          map[string]int64 `json:"ended"`
}

// Peers are the other nodes of a hub, whose counters the dashboard shows
// beside this node's: their base URLs, and the publish key that opens
// their /api/stats (empty when they trust this machine).
type Peers struct {
	URLs []string
	Key  string
}

// A node is one node's figures in the answer of /api/stats?nodes=1.
type node struct {
	URL   string `json:"url"`
	Error string `json:"error,omitempty"`
	Stats *stats `json:"stats,omitempty"`
}

// Stats serves the hub's counters as JSON for the dashboard's charts: this
// node's figures, as /metrics has them, and with ?nodes=1 each peer's too,
// asked by this node (so the page needs no access to the peers). herd
// serve guards it as it guards /metrics (this machine, or the publish key).
//
// Peers' answers are kept for peerAnswerTTL and shared by every request,
// so however many pages are open, each peer is asked at most twice a
// second by this node.
func Stats(h *hub.Hub, peers Peers) http.Handler {
	cache := &peerCache{peers: peers, client: &http.Client{Timeout: 2 * time.Second}, now: time.Now}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.Stats()
		own := stats{Time: time.Now().UTC(), Subscribers: s.Subscribers, Parked: s.Parked,
			Published: s.Published, Delivered: s.Delivered, Replayed: s.Replayed, BytesWritten: s.BytesWritten,
			StoreErrors: s.StoreErrors, QueueHighWater: s.QueueHighWater, Ended: s.Ended}
		var answer any = own
		if r.URL.Query().Get("nodes") == "1" && len(peers.URLs) > 0 {
			answer = struct {
				stats
				Nodes []node `json:"nodes"`
			}{own, cache.answers()}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(answer)
	})
}

// peerAnswerTTL is how long the peers' answers are reused: under the
// dashboard's one-second poll, so that a single open page still sees fresh
// figures every time.
const peerAnswerTTL = 500 * time.Millisecond

// A peerCache asks the peers for their counters and keeps the answers for
// peerAnswerTTL. It is safe for concurrent use: a request that finds the
// answers stale asks the peers while the others wait for its answers
// (at most the client's timeout) rather than asking too.
type peerCache struct {
	peers  Peers
	client *http.Client
	now    func() time.Time

	mu   sync.Mutex
	at   time.Time // when answers were asked for
	last []node    // the peers' answers; read-only once stored
}

func (c *peerCache) answers() []node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.now().Sub(c.at) < peerAnswerTTL {
		return c.last
	}
	nodes := make([]node, len(c.peers.URLs))
	var wg sync.WaitGroup
	for i, u := range c.peers.URLs {
		// Not the request's context: the answers serve other requests too,
		// and the client's timeout bounds the wait.
		wg.Go(func() { nodes[i] = askPeer(context.Background(), c.client, u, c.peers.Key) })
	}
	wg.Wait()
	c.at, c.last = c.now(), nodes
	return nodes
}

// askPeer reads one peer's counters.
func askPeer(ctx context.Context, client *http.Client, base, key string) node {
	n := node{URL: base}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(base, "/")+"/api/stats", nil)
	if err != nil {
		n.Error = err.Error()
		return n
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		n.Error = "unreachable"
		return n
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		n.Error = resp.Status
		return n
	}
	var s stats
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		n.Error = "not herd's answer"
		return n
	}
	n.Stats = &s
	return n
}
