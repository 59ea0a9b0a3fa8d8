package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

const pubSynopsis = "[--hub URL] [--event TYPE] [--close] [--private] [--idempotency-key K] [--topic T]... TOPIC [DATA|-]"

// runPub is herd pub: publish one event and print its id.
func runPub(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("pub", pubSynopsis, io)
	hubURL := fs.String("hub", "http://localhost:8080", "hub `URL` (env HERD_HUB)")
	event := fs.String("event", "", "event `TYPE` (default: message)")
	closeTopics := fs.Bool("close", false, "close the topics: subscribers get the event (if any data), then the close")
	key := fs.String("idempotency-key", "", "publishing again with this `KEY` is answered with the first id (default: a random key, so that retries are safe)")
	publishKey := fs.String("key", "", "`KEY`: the hub's publish key, or a token from herd token (env HERD_PUBLISH_KEY)")
	private := fs.Bool("private", false, "only subscribers whose token grants one of the topics receive it")
	retry := fs.Duration("retry-hint", 0, "send this reconnection delay with the event (retry:); 0s asks clients to reconnect at once")
	attempts := fs.Int("attempts", 3, "tries before giving up when the hub is unreachable or unavailable")
	var more stringList
	fs.Var(&more, "topic", "another `TOPIC` to publish to (repeatable)")
	var tlsFlags tlsClientFlags
	tlsFlags.register(fs)
	rest, err := parseFlags(fs, args, io, map[string]string{"hub": "HERD_HUB", "key": "HERD_PUBLISH_KEY"})
	if err != nil {
		return err
	}
	const hint = `herd pub news "hello"   or   echo hello | herd pub news`
	if len(rest) == 0 || len(rest) > 2 {
		return usagef(hint, "pub takes a topic and, optionally, the data (or - for stdin)")
	}
	if *attempts < 1 {
		return usagef(hint, "--attempts must be at least 1")
	}
	if *retry < 0 {
		return usagef(hint, "--retry-hint must not be negative")
	}
	u, err := parseHub(*hubURL, "herd pub --hub http://localhost:8080 news hi")
	if err != nil {
		return err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/events"
	tr, err := tlsFlags.transport(u, "herd pub --ca herd-self-signed.pem news hi")
	if err != nil {
		return err
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	req := map[string]any{"topic": append([]string{rest[0]}, more...)}
	switch {
	case len(rest) == 2 && rest[1] != "-":
		req["data"] = rest[1]
	case len(rest) == 2 || !*closeTopics: // "-", or no data and not a close-only publish
		if isTerminal(io.Stdin) {
			return usagef(fmt.Sprintf("herd pub %s \"hello\"   or   echo hello | herd pub %[1]s", rest[0]),
				"pub needs the data: give it after the topic, or pipe it in (stdin is a terminal)")
		}
		data, err := readAll(io.Stdin)
		if err != nil {
			return fmt.Errorf("reading data from stdin: %w", err)
		}
		// What echo and editors add is no part of the event.
		data = strings.TrimSuffix(strings.TrimSuffix(data, "\n"), "\r")
		if data == "" {
			return usagef(fmt.Sprintf("herd pub %s ''   (an event with empty data)   or   herd pub --close %[1]s", rest[0]),
				"stdin was empty: nothing to publish")
		}
		req["data"] = data
	}
	if *event != "" {
		req["event"] = *event
	}
	if *private {
		req["private"] = true
	}
	if *closeTopics {
		req["close"] = true
	}
	if *retry > 0 || flagGiven(fs, "retry-hint") { // --retry-hint 0 sends "retry: 0": reconnect at once
		req["retry"] = retry.Milliseconds()
	}
	body, _ := json.Marshal(req)
	idem := *key
	if idem == "" {
		idem = randomKey()
	}

	var lastErr error
	for attempt := range *attempts {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		id, retryable, err := post(ctx, client, u.String(), body, idem, *publishKey)
		if err == nil {
			fmt.Fprintln(io.Stdout, id)
			return nil
		}
		if !retryable {
			return err
		}
		lastErr = err
	}
	return lastErr
}

// post publishes once; retryable reports whether trying again may help.
func post(ctx context.Context, client *http.Client, target string, body []byte, idem, key string) (id string, retryable bool, err error) {
	req, err := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idem)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		if isUntrusted(err) {
			return "", false, untrusted(fmt.Errorf("cannot reach the hub: %w", redactErr(err)))
		}
		err = fmt.Errorf("cannot reach the hub: %w", redactErr(err))
		if unreachable(err) {
			err = withHint(err, notRunning)
		}
		return "", ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		retryable = resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests
		msg := "the hub answered " + resp.Status
		if reason := serverReason(resp.Header.Get("Content-Type"), raw); reason != "" {
			msg += ": " + reason
		}
		err := errors.New(msg)
		if hint := refusalHint(resp.StatusCode, "pub"); hint != "" {
			err = withHint(err, hint)
		}
		return "", retryable, err
	}
	var answer struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil || answer.ID == "" {
		return "", false, withHint(fmt.Errorf("the hub answered %s without an id: is %s a herd hub?", resp.Status, redact(target)),
			"herd pub --hub http://HOST:PORT")
	}
	return answer.ID, false, nil
}

// isTerminal reports whether r is an interactive terminal, where a
// command waiting for input would seem to hang.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func readAll(r io.Reader) (string, error) {
	if r == nil {
		return "", nil
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

func randomKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "herd-pub-" + hex.EncodeToString(b)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// flagGiven reports whether the flag name was on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
