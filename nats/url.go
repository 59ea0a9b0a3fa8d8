package nats

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// A location is a store URL, parsed: the servers to try and herd's own
// parameters.
type location struct {
	servers  []string // each a full URL, with the credentials if the URL had some
	prefix   string
	replicas int // 0 if the URL says nothing
}

// ParseURL checks a store URL without connecting: one server
// (nats://[user:pass@]host:port) or several, comma-separated, either as
// hosts (nats://a:4222,b:4222,c:4222) or as the NATS client's own list of
// URLs (nats://a:4222,nats://b:4222). The query, after the last server,
// takes prefix=NAME and replicas=N (1, 3 or 5); anything else is refused.
// Errors never show a password.
func ParseURL(raw string) error {
	_, err := parseLocation(raw)
	return err
}

func parseLocation(raw string) (location, error) {
	var loc location
	list, query, _ := strings.Cut(raw, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return loc, fmt.Errorf("nats: bad query: %w", errors.Unwrap(err))
	}
	for name, vals := range q {
		switch name {
		case "prefix":
			loc.prefix = vals[len(vals)-1]
		case "replicas":
			v := vals[len(vals)-1]
			n, err := strconv.Atoi(v)
			if err != nil || (n != 1 && n != 3 && n != 5) {
				return loc, fmt.Errorf("nats: replicas=%s: use 1, 3 or 5 (JetStream keeps an odd number of copies so that a majority can elect a leader)", v)
			}
			loc.replicas = n
		default:
			return loc, fmt.Errorf("nats: unknown URL parameter %q: herd takes prefix and replicas", name)
		}
	}
	var first *url.URL
	for i, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return loc, fmt.Errorf("nats: server %d of the URL is empty", i+1)
		}
		if !strings.Contains(part, "://") {
			if first == nil {
				return loc, errors.New("nats: want nats://HOST:PORT (or several: nats://HOST:PORT,HOST:PORT,HOST:PORT)")
			}
			part = first.Scheme + "://" + part
		}
		u, err := url.Parse(part)
		if err != nil {
			return loc, fmt.Errorf("nats: server %d of the URL: %w", i+1, errors.Unwrap(err)) // not the URL: it may hold a password
		}
		if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return loc, fmt.Errorf("nats: server %d of the URL: want %s://HOST:PORT", i+1, u.Scheme)
		}
		switch u.Scheme {
		case "nats", "tls":
		default:
			return loc, fmt.Errorf("nats: server %d of the URL: scheme %q: use nats:// or tls://", i+1, u.Scheme)
		}
		u.Path = ""
		if first == nil {
			first = u
		} else if u.User == nil {
			u.User = first.User // the credentials are the cluster's, written once
		}
		loc.servers = append(loc.servers, u.String())
	}
	return loc, nil
}
