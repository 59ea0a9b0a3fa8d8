// Package demo serves the seed post's program on herd: ten cowsay quotes,
// one per interval, streamed to a page that shows each as its own <div>
// and stops at the end instead of starting over.
package demo

import (
	"embed"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/internal/web"
	"github.com/herd-sse/herd/sse"
)

// Quotes are the seed post's ten quotes, in order.
var Quotes = [...]string{
	"I'm a moo-dern programmer.",
	"Stay udderly fantastic!",
	"Moo may represent an idea, but only the cow knows.",
	"I've got the mooves like Jagger.",
	"It's pasture bedtime!",
	"Don’t follow your dreams; follow my Twitter @theCoolCow.",
	"Holy cow! That’s udderly amazing!",
	"Remember to always hoof it over to the sunny side!",
	"Sometimes I'm outstanding in my field, sometimes I'm just standing.",
	"Cowabunga dude, let’s surf the net!",
}

// CloseEvent is the event that ends the stream, as in the seed post.
const CloseEvent = "closeStream"

// Retry is the reconnection delay the stream asks browsers for. Were the
// page not to stop at the close event, it would be seen starting over
// within this delay.
const Retry = time.Second

// Clients are the page variants, by the value of ?client=.
var Clients = []string{"eventsource", "htmx2", "htmx4", "hub", "hub-htmx2"}

const maxInterval = time.Minute

// parseInterval reads ?interval= (a Go duration, default 1s).
func parseInterval(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("interval")
	if s == "" {
		return time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxInterval {
		return 0, fmt.Errorf("interval must be a Go duration between 0 and %v, like 1s or 250ms; got %q", maxInterval, s)
	}
	return d, nil
}

// Events streams the quotes: GET /demo/cowsay/events[?interval=1s].
//
// Each quote is an event with id 1…10 and data <div>quote</div>; then comes
// the close event, with a data line so that browsers dispatch it. A client
// that reconnects with Last-Event-ID n gets the quotes after n; one that
// had them all (a client that does not know the close event, and so
// reconnected) is answered 204 No Content, which ends an EventSource and
// any client of the sse package for good, as the hub does for a closed
// topic.
//
// With d.Drain set, the stream ends when the server shuts down.
func (d *Handler) Events(w http.ResponseWriter, r *http.Request) {
	interval, err := parseInterval(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	lastID, _ := sse.LastEventID(r)
	next, _ := strconv.Atoi(lastID) // 0 when absent or not ours
	if next >= len(Quotes) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s, err := sse.NewStream(w, r, &sse.Options{CloseEvent: CloseEvent, Retry: Retry, Drain: d.Drain})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer s.Close()
	next = max(next, 0)
	t := time.NewTimer(interval)
	defer t.Stop()
	for i := next; i < len(Quotes); i++ {
		select {
		case <-t.C:
			t.Reset(interval)
		case <-s.Done():
			return
		}
		e := sse.Event{ID: strconv.Itoa(i + 1), Data: "<div>" + html.EscapeString(Quotes[i]) + "</div>"}
		if s.Send(e) != nil {
			return
		}
	}
	s.End()
}

//go:embed cowsay.html
var pageFiles embed.FS

var page = template.Must(template.ParseFS(pageFiles, "cowsay.html"))

// Handler serves the demo page. Its zero value serves the variants that
// stream from /demo/cowsay/events; the hub variants need a Publisher.
type Handler struct {
	// Publisher is the --demo publisher, if one runs. Without it the hub
	// variants are not served (404): they show only the demo's own
	// topics, which nothing else is meant to publish.
	Publisher *Publisher
	// CloseEvent is the hub's close event. Empty means "close".
	CloseEvent string
	// Drain, if set, ends the demo's own streams when the server shuts
	// down (see sse.Drain).
	Drain *sse.Drain
}

// DefaultTopic is the demo's namespace: the publisher's runs are topics
// under it (demo/cowsay/<start time>), and the hub variants show no other
// topic.
const DefaultTopic = "demo/cowsay"

// ownTopic reports whether topic is the demo's: DefaultTopic or under it.
func ownTopic(topic string) bool {
	return topic == DefaultTopic || strings.HasPrefix(topic, DefaultTopic+"/")
}

// Page serves the demo page:
//
//	GET /demo/cowsay[?client=eventsource|htmx2|htmx4|hub|hub-htmx2][&interval=1s][&topic=T]
//
// eventsource, htmx2 and htmx4 stream from /demo/cowsay/events and swap
// in the markup that stream carries (made here, quotes escaped). hub and
// hub-htmx2, served only with a Publisher (herd serve --demo), subscribe
// to a topic of the demo's (the current run, or ?topic= under
// demo/cowsay/) from its earliest retained event, show each event's data
// as text, and stop at the hub's close event.
//
// The page, like every page herd serves, carries web.SetPageHeaders' CSP:
// its scripts are files under /static/.
func (d *Handler) Page(w http.ResponseWriter, r *http.Request) {
	web.SetPageHeaders(w.Header())
	interval, err := parseInterval(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	client := q.Get("client")
	if client == "" {
		client = "eventsource"
	}
	if !slices.Contains(Clients, client) {
		http.Error(w, fmt.Sprintf("unknown client %q: use one of %s", client, strings.Join(Clients, ", ")), http.StatusBadRequest)
		return
	}
	clients := Clients
	if d.Publisher == nil {
		clients = slices.DeleteFunc(slices.Clone(Clients), isHubClient)
	}
	data := map[string]any{
		"Client":     client,
		"Clients":    clients,
		"CloseEvent": CloseEvent,
		"Stream":     "/demo/cowsay/events?interval=" + interval.String(),
		"Interval":   interval.String(),
	}
	if isHubClient(client) {
		if d.Publisher == nil {
			http.Error(w, fmt.Sprintf("the %s variant of the demo follows the topics herd publishes with --demo, "+
				"and is served only then: start herd serve --demo, or use ?client=%s", client, strings.Join(clients, " or ?client=")),
				http.StatusNotFound)
			return
		}
		topic := q.Get("topic")
		if topic == "" {
			topic = d.Publisher.Current()
		}
		if topic == "" {
			topic = DefaultTopic
		}
		if err := herd.ValidateTopic(topic); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !ownTopic(topic) {
			http.Error(w, fmt.Sprintf("topic %q is not the demo's: the demo shows only topics under %s/", topic, DefaultTopic),
				http.StatusBadRequest)
			return
		}
		closeEvent := d.CloseEvent
		if closeEvent == "" {
			closeEvent = "close"
		}
		data["Topic"] = topic
		data["CloseEvent"] = closeEvent
		data["Stream"] = "/events?" + url.Values{"topic": {topic}, "last_event_id": {hub.EarliestID}}.Encode()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func isHubClient(client string) bool { return strings.HasPrefix(client, "hub") }
