package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/sse"
)

const subSynopsis = "[--hub URL] [--key TOKEN] [--last-event-id ID|earliest] [--json] [--once] [flags] TOPIC...|URL"

// runSub is herd sub: print the events of hub topics, or of any SSE URL.
func runSub(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("sub", subSynopsis, io)
	hubURL := fs.String("hub", "http://localhost:8080", "hub `URL`, for topics (env HERD_HUB)")
	asJSON := fs.Bool("json", false, `print one JSON object per event: {"event","data","id"}`)
	once := fs.Bool("once", false, "do not reconnect: exit at the end of the first response")
	lastID := fs.String("last-event-id", "", "resume after this event `ID` (earliest: from the oldest event kept)")
	retry := fs.Duration("retry", 3*time.Second, "initial reconnection delay, until the stream sets its own")
	closeEvent := fs.String("close-event", "close", "event `TYPE` that ends the subscription (exit 0)")
	key := fs.String("key", "", "a `TOKEN` granting the topics, from herd token or your application (env HERD_SUBSCRIBE_KEY, sent to the hub only)")
	var headers headerFlags
	fs.Var(&headers, "H", "add a request `HEADER`, 'Name: value' (repeatable)")
	var tlsFlags tlsClientFlags
	tlsFlags.register(fs)
	targets, err := parseFlags(fs, args, io, map[string]string{"hub": "HERD_HUB"})
	if err != nil {
		return err
	}
	const hint = "herd sub news   or   herd sub https://example.com/events"
	if len(targets) == 0 {
		return usagef(hint, "sub needs hub topics or an SSE URL")
	}
	if *retry <= 0 {
		return usagef(hint, "--retry must be positive, like 3s")
	}
	target, err := subURL(*hubURL, targets)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		return usagef(hint, "bad URL %q: %v", redact(target), redact(err.Error()))
	}
	hdrs, err := headers.parse("sub -H")
	if err != nil {
		return err
	}
	for _, h := range hdrs {
		req.Header.Add(h.name, h.value)
	}
	if *key == "" && !isURL(targets[0]) {
		// Only to the hub: a token in the environment must not go to
		// whatever URL is followed.
		*key = io.getenv("HERD_SUBSCRIBE_KEY")
	}
	if *key != "" {
		req.Header.Set("Authorization", "Bearer "+*key)
	}
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	who := "the hub"
	if isURL(targets[0]) {
		who = "the server"
	}

	var declined error
	tr, err := tlsFlags.transport(req.URL, hint)
	if err != nil {
		return err
	}
	client := &sse.Client{HTTPClient: &http.Client{Transport: tr}, Retry: *retry, CloseEvent: *closeEvent, SeeCloseEvent: true, Reconnect: func(err error, delay time.Duration) bool {
		if *once || isUntrusted(err) {
			declined = err
			return false
		}
		drop := describeDrop(err)
		if unreachable(err) && who == "the hub" {
			drop += " (is the hub running?)"
		}
		fmt.Fprintf(io.Stderr, "herd sub: %s; reconnecting in %v\n", drop, delay.Round(time.Millisecond))
		return true
	}}
	out := json.NewEncoder(io.Stdout)
	out.SetEscapeHTML(false)
	for e, err := range client.Events(ctx, req) {
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a normal end
			}
			return subError(err, declined, who)
		}
		if *asJSON {
			typ := e.Type
			if typ == "" {
				typ = "message"
			}
			if err := out.Encode(jsonEvent{Event: typ, Data: e.Data, ID: e.ID}); err != nil {
				return err
			}
		} else if e.Type == hub.GapEvent || e.Type == hub.ExpiredEvent {
			// Notices are the hub's words about the stream, not its data.
			fmt.Fprintf(io.Stderr, "herd sub: %s: %s\n", e.Type, sanitize(e.Data, 300))
		} else if e.Type != *closeEvent {
			if _, err := fmt.Fprintln(io.Stdout, e.Data); err != nil {
				return err
			}
		}
		if e.Type == *closeEvent {
			return nil
		}
	}
	return nil
}

// subError says why a subscription ended for good, and what to do.
func subError(err, declined error, who string) error {
	var se *sse.StatusError
	var ce *sse.ContentTypeError
	switch {
	case errors.As(err, &se):
		return describeStatus(se, who)
	case errors.As(err, &ce):
		return withHint(fmt.Errorf("%s answered with %s, not an event stream (text/event-stream)", who, sanitize(ce.ContentType, 100)),
			"check the URL: is it the stream's, not its page's?")
	case declined != nil && errors.Is(err, declined):
		if unreachable(err) && who == "the hub" {
			return withHint(errors.New(describeDrop(err)), notRunning)
		}
		if isUntrusted(err) {
			return untrusted(err)
		}
		return errors.New(describeDrop(err))
	}
	return redactErr(err)
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// jsonEvent is one line of herd sub --json, keys in this order.
type jsonEvent struct {
	Event string `json:"event"`
	Data  string `json:"data"`
	ID    string `json:"id"`
}

// subURL returns the URL to subscribe to: the one given, or the hub's
// stream of the given topics.
func subURL(hubURL string, targets []string) (string, error) {
	if isURL(targets[0]) {
		if len(targets) > 1 {
			return "", usagef("herd sub "+targets[0], "sub takes one URL, or hub topics, not both")
		}
		if _, err := url.ParseRequestURI(targets[0]); err != nil {
			return "", usagef("herd sub https://example.com/events", "bad URL %q", redact(targets[0]))
		}
		return targets[0], nil
	}
	u, err := parseHub(hubURL, "herd sub --hub http://localhost:8080 news")
	if err != nil {
		return "", err
	}
	q := url.Values{}
	for _, t := range targets {
		if isURL(t) {
			return "", usagef("herd sub "+t, "sub takes one URL, or hub topics, not both")
		}
		if t == "" {
			return "", usagef("herd sub news", "empty topic")
		}
		q.Add("topic", t)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/events"
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// describeDrop says in a few words why a connection ended.
func describeDrop(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "stream ended"
	case errors.Is(err, sse.ErrReadTimeout):
		return "read timeout"
	}
	return "connection failed: " + oneLine(redactErr(err).Error())
}

type header struct{ name, value string }

// headerFlags collects -H 'Name: value' flags. Set takes anything, so that
// the flag package never quotes a malformed one (it may hold a token):
// check reports those.
type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, "; ") }

func (h *headerFlags) Set(s string) error {
	*h = append(*h, s)
	return nil
}

// parse checks the headers and splits them.
func (h headerFlags) parse(flag string) ([]header, error) {
	var out []header
	for i, s := range h {
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return nil, usagef(fmt.Sprintf("herd %s 'Authorization: Bearer …'", flag),
				"%s #%d: want 'Name: value', a header name, a colon and its value (what was given is not shown: it may hold a secret)", flag, i+1)
		}
		out = append(out, header{name, strings.TrimSpace(value)})
	}
	return out, nil
}
