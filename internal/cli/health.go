package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"
)

const healthSynopsis = "[--hub URL] [--timeout 3s]"

// runHealth is herd health: ask a hub's /readyz whether it serves and its
// store answers, for container health checks and scripts. It exits 0 when
// ready, 1 (with the hub's reason) when not.
func runHealth(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("health", healthSynopsis, io)
	hubURL := fs.String("hub", "", "hub `URL` (env HERD_HUB; default: this machine at HERD_ADDR's port, else http://localhost:8080)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	var tlsFlags tlsClientFlags
	tlsFlags.register(fs)
	rest, err := parseFlags(fs, args, io, map[string]string{"hub": "HERD_HUB"})
	if err != nil {
		return err
	}
	const hint = "herd health --hub http://localhost:8080"
	if len(rest) > 0 {
		return usagef(hint, "health takes no arguments, got %q", rest[0])
	}
	if *timeout <= 0 {
		return usagef(hint, "--timeout must be positive")
	}
	base := *hubURL
	if base == "" {
		base = localHub(io.getenv("HERD_ADDR"))
	}
	u, err := parseHub(base, hint)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u.JoinPath("readyz").String(), nil)
	if err != nil {
		return err
	}
	tr, err := tlsFlags.transport(u, hint)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return untrusted(fmt.Errorf("hub not reachable: %w", redactErr(err)))
	}
	defer resp.Body.Close()
	var answer struct{ Status, Error string }
	json.NewDecoder(resp.Body).Decode(&answer)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("hub not ready (%s): %s", resp.Status, answer.Error)
	}
	_, err = fmt.Fprintln(io.Stdout, "ready")
	return err
}

// localHub is the URL of a hub on this machine listening on addr (a
// --addr value), or the default hub's.
func localHub(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "" {
		return "http://" + net.JoinHostPort("127.0.0.1", port)
	}
	return "http://localhost:8080"
}
