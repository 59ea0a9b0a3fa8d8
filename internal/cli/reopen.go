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
)

const reopenSynopsis = "[--hub URL] [--key KEY] TOPIC..."

// runReopen is herd reopen: open closed topics again (POST /topics/reopen),
// printing what each was.
func runReopen(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("reopen", reopenSynopsis, io)
	hubURL := fs.String("hub", "http://localhost:8080", "hub `URL` (env HERD_HUB)")
	publishKey := fs.String("key", "", "`KEY`: the hub's publish key, or a token granting publish to the topics (env HERD_PUBLISH_KEY)")
	var tlsFlags tlsClientFlags
	tlsFlags.register(fs)
	topics, err := parseFlags(fs, args, io, map[string]string{"hub": "HERD_HUB", "key": "HERD_PUBLISH_KEY"})
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return usagef("herd reopen news", "reopen takes the topics to open again")
	}
	u, err := parseHub(*hubURL, "herd reopen --hub http://localhost:8080 news")
	if err != nil {
		return err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/topics/reopen"
	tr, err := tlsFlags.transport(u, "herd reopen --ca herd-self-signed.pem news")
	if err != nil {
		return err
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	form := url.Values{"topic": topics}
	req, err := http.NewRequestWithContext(ctx, "POST", u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if *publishKey != "" {
		req.Header.Set("Authorization", "Bearer "+*publishKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		err = fmt.Errorf("cannot reach the hub: %w", redactErr(err))
		if isUntrusted(err) {
			return untrusted(err)
		}
		if unreachable(err) {
			return withHint(err, notRunning)
		}
		return err
	}
	defer resp.Body.Close()
	raw, _ := readLimited(resp.Body)
	if resp.StatusCode != http.StatusOK {
		msg := "the hub answered " + resp.Status
		if reason := serverReason(resp.Header.Get("Content-Type"), raw); reason != "" {
			msg += ": " + reason
		}
		err := errors.New(msg)
		if hint := refusalHint(resp.StatusCode, "pub"); hint != "" {
			err = withHint(err, strings.ReplaceAll(hint, "herd pub", "herd reopen"))
		}
		return err
	}
	var answer struct {
		Reopened map[string]string `json:"reopened"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil || answer.Reopened == nil {
		return withHint(fmt.Errorf("the hub answered %s without the topics reopened: is %s a herd hub?", resp.Status, redact(u.String())),
			"herd reopen --hub http://HOST:PORT news")
	}
	seen := map[string]bool{}
	for _, t := range topics {
		if seen[t] {
			continue
		}
		seen[t] = true
		if id, ok := answer.Reopened[t]; ok {
			fmt.Fprintf(io.Stdout, "%s: reopened (it was closed at id %s)\n", t, id)
		} else {
			fmt.Fprintf(io.Stdout, "%s: was open\n", t)
		}
	}
	return nil
}

func readLimited(r io.Reader) ([]byte, error) { return io.ReadAll(io.LimitReader(r, 64<<10)) }
