package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/bolt"
	"github.com/herd-sse/herd/memory"
	"github.com/herd-sse/herd/nats"
	"github.com/herd-sse/herd/redis"
)

// storeOptions are the settings every store takes.
type storeOptions struct {
	retention      herd.Retention
	idempotencyTTL time.Duration
	changeSettings bool // see hub.StoreOptions.ChangeSettings
	logger         *slog.Logger
}

const storeHint = "herd serve --store bolt:herd.db   (or memory, redis://HOST:PORT/DB, nats://HOST:PORT; docs/clustering.md for clusters)"

// A storeSpec is a --store value, parsed: the one place that knows the
// kinds of store.
type storeSpec struct {
	kind string // "memory", "bolt", "redis" or "nats"
	arg  string // the file's path for bolt, the URL for redis and nats
}

// parseStore reads a --store value, reporting a malformed one as a usage
// error, before anything is opened. Errors never show a password.
func parseStore(spec string) (storeSpec, error) {
	scheme, rest, _ := strings.Cut(spec, ":")
	switch {
	case spec == "memory":
		return storeSpec{kind: "memory"}, nil
	case scheme == "bolt":
		if rest == "" {
			return storeSpec{}, usagef(storeHint, "--store bolt: needs a file path, like bolt:herd.db")
		}
		return storeSpec{kind: "bolt", arg: rest}, nil
	case scheme == "nats":
		if err := nats.ParseURL(spec); err != nil {
			return storeSpec{}, usagef(storeHint, "--store %s: %s", redact(spec), redact(err.Error()))
		}
		return storeSpec{kind: "nats", arg: spec}, nil
	case strings.HasPrefix(scheme, "redis"):
		if u, err := url.Parse(spec); err != nil || u.Host == "" {
			return storeSpec{}, usagef(storeHint, "--store %s: want %s://HOST:PORT", redact(spec), scheme)
		}
		if err := redis.ParseURL(spec); err != nil {
			return storeSpec{}, usagef(storeHint, "--store %s: %s", redact(spec), redact(err.Error()))
		}
		return storeSpec{kind: "redis", arg: spec}, nil
	}
	return storeSpec{}, usagef(storeHint, "unknown store %q: use bolt:PATH, memory, redis://HOST:PORT/DB or nats://HOST:PORT", redact(spec))
}

// String is the store as logs and errors show it.
func (s storeSpec) String() string {
	switch s.kind {
	case "memory":
		return "memory"
	case "bolt":
		return "bolt:" + s.arg
	}
	return redact(s.arg)
}

// describe says what the store is, for the startup log.
func (s storeSpec) describe() string {
	switch s.kind {
	case "memory":
		return "memory (history is lost when herd stops)"
	case "bolt":
		return "bolt file " + s.arg
	}
	return s.kind + " " + redact(s.arg)
}

// open opens the store. A store that cannot be opened is a runtime error,
// reported at once in one line.
func (s storeSpec) open(o storeOptions) (herd.Store, error) {
	so := herd.StoreOptions{Retention: o.retention, IdempotencyTTL: o.idempotencyTTL, ChangeSettings: o.changeSettings}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var store herd.Store
	var err error
	switch s.kind {
	case "memory":
		return memory.New(memory.Options{StoreOptions: so}), nil
	case "bolt":
		store, err = bolt.Open(s.arg, bolt.Options{StoreOptions: so})
	case "redis":
		redis.SetClientLogger(o.logger) // herd owns the process: its logs are slog's
		store, err = redis.Open(ctx, s.arg, redis.Options{StoreOptions: so})
	case "nats":
		store, err = nats.Open(ctx, s.arg, nats.Options{StoreOptions: so, Logger: o.logger})
	default:
		panic("cli: unknown store kind " + s.kind)
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return store, nil
}

// check looks at the store without changing it, as herd check does: a
// bolt file is verified record by record, a broker is contacted. It
// returns what it found, or why herd serve would fail on it; the damaged
// events of a bolt file, if any, it lists on w first, one a line.
func (s storeSpec) check(ctx context.Context, w io.Writer) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var found string
	var err error
	switch s.kind {
	case "memory":
		return "in memory: nothing to check", nil
	case "bolt":
		var sum bolt.Summary
		sum, err = bolt.Check(s.arg)
		found = "sound: " + sum.String()
		listDamaged(w, sum)
		if errors.Is(err, os.ErrNotExist) {
			found, err = boltDirReady(s.arg)
		}
	case "redis":
		found, err = redis.Check(ctx, s.arg, redis.Options{})
	case "nats":
		found, err = nats.Check(ctx, s.arg, nats.Options{})
	}
	if err != nil {
		return "", s.fail(err)
	}
	return found, nil
}

// boltDirReady checks, for a bolt file that does not exist yet, that
// herd serve can create it: its directory must exist (serve creates the
// file, never directories).
func boltDirReady(path string) (string, error) {
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("the directory %s does not exist, and herd serve creates only the file: create it (mkdir -p %s) or choose a path in an existing directory", dir, dir)
	case err != nil:
		return "", err
	case !info.IsDir():
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	return "no file yet (herd serve creates it in " + dir + ")", nil
}

// listDamaged writes one line per damaged event of a bolt file: its id and
// position, and its topics as far as they could be read.
func listDamaged(w io.Writer, sum bolt.Summary) {
	for _, d := range sum.Damaged {
		topics := "unreadable"
		if d.Topics != nil {
			topics = fmt.Sprintf("%q (as read: the damage may be in them)", d.Topics)
		}
		fmt.Fprintf(w, "damaged event %s at position %d, topics %s: %s\n", d.ID, d.Pos, topics, d.Cause)
	}
	if n := sum.DamagedEvents - len(sum.Damaged); n > 0 {
		fmt.Fprintf(w, "and %d more damaged events\n", n)
	}
}

// fail reports err about the store, on one line and without secrets.
func (s storeSpec) fail(err error) error {
	return fmt.Errorf("store %s: %s", s, redact(oneLine(err.Error())))
}
