package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"strings"
	"syscall"
	"unicode"

	"github.com/herd-sse/herd/sse"
)

// The hub says why it refuses a request in its answer ({"error": "..."});
// a proxy or another server may answer in plain text or HTML. These
// helpers turn an answer into one line a terminal can show safely, and
// say what to do next.

// serverReason is the reason an answer gives: the hub's "error", the
// first line of a plain-text body, or "" for anything else (an HTML page
// is no reason). It is sanitized: no control characters, at most 300
// characters.
func serverReason(contentType string, body []byte) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	var reason string
	switch mt {
	case "application/json":
		var answer struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &answer) == nil {
			reason = answer.Error
		}
	case "text/plain":
		reason = oneLine(string(body))
	}
	return sanitize(reason, 300)
}

// sanitize keeps the printable characters of s, at most n of them, so that
// a server's words cannot move the cursor or rewrite the terminal.
func sanitize(s string, n int) string {
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count == n {
			b.WriteString("…")
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			count++
		}
	}
	return strings.TrimSpace(b.String())
}

// refusalHint says what to do after the hub answered with this status.
func refusalHint(code int, command string) string {
	switch code {
	case 401:
		if command == "pub" {
			return "give the hub's publish key, or a token granting the topics: herd pub --key KEY (or HERD_PUBLISH_KEY)"
		}
		return "give a token granting the topics: herd sub --key TOKEN (or HERD_SUBSCRIBE_KEY); herd token mints one for development"
	case 403:
		return "the credential does not grant these topics: mint one that does (herd token --publish SEL --subscribe SEL)"
	case 404:
		return "is --hub a herd hub? It serves /events: herd " + command + " --hub http://HOST:PORT"
	case 413:
		return "send less data, or raise the hub's --max-event-size"
	case 421:
		return "the hub does not know the host name: add it with herd serve --allowed-hosts NAME"
	case 429:
		return "wait and try again, or raise the hub's limit named above"
	case 503:
		return "the hub is not ready (its store?): herd health, and the hub's log"
	}
	return ""
}

// describeStatus turns a refused subscription into an error with the
// server's reason and what to do next.
func describeStatus(se *sse.StatusError, who string) error {
	msg := fmt.Sprintf("%s answered %s", who, se.Status)
	if reason := serverReason(se.ContentType, se.Body); reason != "" {
		msg += ": " + reason
	}
	err := errors.New(msg)
	hint := refusalHint(se.Code, "sub")
	if who != "the hub" {
		hint = ""
		if se.Code == 404 {
			hint = "check the URL: it should be the stream's"
		}
	}
	if hint != "" {
		return withHint(err, hint)
	}
	return err
}

// unreachable reports whether err is a connection that could not be made
// at all: nothing listens there, or the name does not resolve.
func unreachable(err error) bool {
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns)
}

// notRunning is the hint for a hub that cannot be reached.
const notRunning = "is the hub running? Start one with: herd   (or point at yours with --hub URL or HERD_HUB)"
