// Command cowsay is the cowsay blog post's program, rewritten with package
// sse: ten quotes, one per interval, then a close event, so the page
// stops instead of starting over. Run it and open http://localhost:8000.
package main

import (
	"flag"
	"html"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/herd-sse/herd/sse"
)

var quotes = []string{
	"I'm a moo-dern programmer.", "Stay udderly fantastic!",
	"Moo may represent an idea, but only the cow knows.", "I've got the mooves like Jagger.",
	"It's pasture bedtime!", "Don’t follow your dreams; follow my Twitter @theCoolCow.",
	"Holy cow! That’s udderly amazing!", "Remember to always hoof it over to the sunny side!",
	"Sometimes I'm outstanding in my field, sometimes I'm just standing.", "Cowabunga dude, let’s surf the net!",
}

func events(interval time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// A reconnecting client resumes after the last quote it saw; one
		// that saw them all is told there is nothing more (204 stops
		// browsers and sse.Client alike).
		next, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
		if next < 0 || next > len(quotes) {
			next = 0
		}
		if next == len(quotes) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s, err := sse.NewStream(w, r, &sse.Options{CloseEvent: "closeStream"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer s.Close()
		for i := next; i < len(quotes); i++ {
			select {
			case <-time.After(interval): // no thread is held while waiting
			case <-s.Done():
				return
			}
			q := "<div>" + html.EscapeString(quotes[i]) + "</div>"
			if s.Send(sse.Event{ID: strconv.Itoa(i + 1), Data: q}) != nil {
				return
			}
		}
		s.End() // event: closeStream, with the data line browsers need
	}
}

const page = `<!doctype html><meta charset="utf-8"><title>cowsay</title><div id="quotes"></div>
<script>
  const source = new EventSource("/events");
  source.onmessage = (e) => document.getElementById("quotes").insertAdjacentHTML("beforeend", e.data);
  source.addEventListener("closeStream", () => source.close());
</script>`

func main() {
	addr := flag.String("addr", "localhost:8000", "listen address")
	interval := flag.Duration("interval", time.Second, "time between quotes")
	flag.Parse()
	http.HandleFunc("GET /events", events(*interval))
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(page)) })
	log.Printf("cowsay on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
