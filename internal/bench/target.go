package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// A Target is a hub under test: one node, or several sharing a store.
type Target struct {
	Name  string
	Nodes []Node

	// SubPath is the subscription path for a topic: "{topic}" is replaced.
	SubPath string
	// PubPath, Body and ContentType make a publish request (POST).
	PubPath     string
	Body        BodyFunc
	ContentType string
	Header      http.Header
	// Resume says the hub resumes after Last-Event-ID (herd does).
	Resume bool
	// Restart, if set, stops the target's processes and starts them
	// afresh, returning the new nodes. Scenarios that compare memory
	// between steps (B7) start each step on a fresh process: a Go process
	// keeps the heap a previous crowd left for a while, and the next crowd
	// would look free.
	Restart func() ([]Node, error)
}

// A Node is one hub process. Subscribers and publishers are spread over a
// target's nodes round robin; /proc figures are summed over them.
type Node struct {
	Base string // http://host:port
	PID  int    // for /proc figures; 0 if unknown
}

func (t Target) addrs() ([]netip.AddrPort, error) {
	var aps []netip.AddrPort
	for _, n := range t.Nodes {
		u, err := url.Parse(n.Base)
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(u.Host)
		if err != nil {
			return nil, fmt.Errorf("%s: the generator connects to an IPv4 address:port, like http://127.0.0.1:8080 (%v)", n.Base, err)
		}
		aps = append(aps, ap)
	}
	if len(aps) == 0 {
		return nil, fmt.Errorf("target %s has no nodes", t.Name)
	}
	return aps, nil
}

// measured reports whether /proc figures are known for every node.
func (t Target) measured() bool {
	for _, n := range t.Nodes {
		if n.PID == 0 {
			return false
		}
	}
	return len(t.Nodes) > 0
}

func (t Target) pubURLs() []string {
	var urls []string
	for _, n := range t.Nodes {
		urls = append(urls, n.Base+t.PubPath)
	}
	return urls
}

func (t Target) request(topic string, header string) []byte {
	path := strings.ReplaceAll(t.SubPath, "{topic}", url.QueryEscape(topicName(topic)))
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + t.host() + "\r\nAccept: text/event-stream\r\n" + header + "\r\n")
}

// host is the Host header of subscriptions: the first node's, which
// names the hub as its clients would (hubs check it: DNS rebinding).
func (t Target) host() string {
	if len(t.Nodes) > 0 {
		if u, err := url.Parse(t.Nodes[0].Base); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return "localhost"
}

// Config are the settings of a run.
type Config struct {
	Subs     int           // subscribers; 0 means each scenario's default
	Duration time.Duration // each publishing step; 0 means 10s
	Payload  int           // event data bytes; 0 means 64
	Rate     float64       // events/s; 0 means each scenario's default
	Progress io.Writer     // a progress line goes here, if not nil
}

func (c Config) subs(def int) int { return cmp(c.Subs, def) }

func (c Config) duration() time.Duration {
	if c.Duration > 0 {
		return c.Duration
	}
	return 10 * time.Second
}

func (c Config) payload() int { return cmp(c.Payload, 64) }

func cmp[T int | float64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// A Metric is one figure of a report.
type Metric struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
	Higher bool    `json:"higher_is_better"`
}

// A Report is one scenario's figures for one target.
type Report struct {
	Scenario string   `json:"scenario"`
	Title    string   `json:"title"`
	Target   string   `json:"target"`
	Params   string   `json:"params"`
	Metrics  []Metric `json:"metrics"`
	Notes    []string `json:"notes,omitempty"`
}

func (r *Report) add(name, unit string, v float64, higher bool) {
	r.Metrics = append(r.Metrics, Metric{name, unit, v, higher})
}

func (t Target) publisher() *Publisher {
	return &Publisher{URLs: t.pubURLs(), Body: t.Body, ContentType: t.ContentType, Header: t.Header}
}

// publishOne publishes one event and returns the id the hub answered.
func publishOne(ctx context.Context, t Target, topic, data string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", t.pubURLs()[0], strings.NewReader(string(t.Body(topicName(topic), data))))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", t.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var answer struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("publish: %s", resp.Status)
	}
	return answer.ID, nil
}
