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
	changeSettings bool // see herd.StoreOptions.ChangeSettings
	logger         *slog.Logger
}

// common is what every store package takes of them.
func (o storeOptions) common() herd.StoreOptions {
	return herd.StoreOptions{Retention: o.retention, IdempotencyTTL: o.idempotencyTTL, ChangeSettings: o.changeSettings}
}

const storeHint = "herd serve --store bolt:herd.db   (or memory, redis://HOST:PORT/DB, nats://HOST:PORT; docs/clustering.md for clusters)"

// A storeKind is a kind of --store: how its values are told apart,
// checked, shown, opened and looked at. storeKinds is the one place that
// knows them; a new store is a new row.
type storeKind struct {
	name   string                 // as the startup log names it
	form   string                 // the --store form, for errors: bolt:PATH
	match  func(spec string) bool // whether a --store value is of this kind
	shared bool                   // nodes can share it (herd bench --nodes, --change-history-settings)
	// parse checks a value of the kind (whole, and the part after its
	// scheme's colon) and returns what open takes, or a usage error.
	parse func(spec, scheme, rest string) (string, error)
	// show is the store as logs and errors show it, describe what the
	// startup log says of it; both without secrets.
	show, describe func(arg string) string
	open           func(ctx context.Context, arg string, o storeOptions) (herd.Store, error)
	// check looks at the store without changing it (herd check).
	check func(ctx context.Context, arg string, w io.Writer) (string, error)
}

var storeKinds = []*storeKind{
	{
		name: "bolt", form: "bolt:PATH", match: scheme("bolt"),
		parse: func(_, _, rest string) (string, error) {
			if rest == "" {
				return "", usagef(storeHint, "--store bolt: needs a file path, like bolt:herd.db")
			}
			return rest, nil
		},
		show:     func(path string) string { return "bolt:" + path },
		describe: func(path string) string { return "bolt file " + path },
		open: func(_ context.Context, path string, o storeOptions) (herd.Store, error) {
			return bolt.Open(path, bolt.Options{StoreOptions: o.common()})
		},
		check: func(_ context.Context, path string, w io.Writer) (string, error) {
			sum, err := bolt.Check(path)
			listDamaged(w, sum)
			if errors.Is(err, os.ErrNotExist) {
				return boltDirReady(path)
			}
			return "sound: " + sum.String(), err
		},
	},
	{
		name: "memory", form: "memory", match: func(spec string) bool { return spec == "memory" },
		parse:    func(string, string, string) (string, error) { return "", nil },
		show:     func(string) string { return "memory" },
		describe: func(string) string { return "memory (history is lost when herd stops)" },
		open: func(_ context.Context, _ string, o storeOptions) (herd.Store, error) {
			return memory.New(memory.Options{StoreOptions: o.common()}), nil
		},
		check: func(context.Context, string, io.Writer) (string, error) { return "in memory: nothing to check", nil },
	},
	{
		name: "redis", form: "redis://HOST:PORT/DB", shared: true,
		match: func(spec string) bool { return strings.HasPrefix(spec, "redis") }, // rediss, redis+sentinel, …
		parse: func(spec, scheme, _ string) (string, error) {
			if u, err := url.Parse(spec); err != nil || u.Host == "" {
				return "", usagef(storeHint, "--store %s: want %s://HOST:PORT", redact(spec), scheme)
			}
			if err := redis.ParseURL(spec); err != nil {
				return "", usagef(storeHint, "--store %s: %s", redact(spec), redact(err.Error()))
			}
			return spec, nil
		},
		show:     redact,
		describe: func(u string) string { return "redis " + redact(u) },
		open: func(ctx context.Context, u string, o storeOptions) (herd.Store, error) {
			redis.SetClientLogger(o.logger) // herd owns the process: its logs are slog's
			return redis.Open(ctx, u, redis.Options{StoreOptions: o.common()})
		},
		check: func(ctx context.Context, u string, _ io.Writer) (string, error) {
			return redis.Check(ctx, u, redis.Options{})
		},
	},
	{
		name: "nats", form: "nats://HOST:PORT", match: scheme("nats"), shared: true,
		parse: func(spec, _, _ string) (string, error) {
			if err := nats.ParseURL(spec); err != nil {
				return "", usagef(storeHint, "--store %s: %s", redact(spec), redact(err.Error()))
			}
			return spec, nil
		},
		show:     redact,
		describe: func(u string) string { return "nats " + redact(u) },
		open: func(ctx context.Context, u string, o storeOptions) (herd.Store, error) {
			return nats.Open(ctx, u, nats.Options{StoreOptions: o.common(), Logger: o.logger})
		},
		check: func(ctx context.Context, u string, _ io.Writer) (string, error) {
			return nats.Check(ctx, u, nats.Options{})
		},
	},
}

// scheme matches the --store values of a scheme: the part before the
// first colon.
func scheme(name string) func(string) bool {
	return func(spec string) bool {
		s, _, _ := strings.Cut(spec, ":")
		return s == name
	}
}

// kindOf is the kind of store a --store value names, by its scheme alone,
// or nil.
func kindOf(spec string) *storeKind {
	for _, k := range storeKinds {
		if k.match(spec) {
			return k
		}
	}
	return nil
}

func unknownStore(spec string) error {
	forms := make([]string, len(storeKinds))
	for i, k := range storeKinds {
		forms[i] = k.form
	}
	return usagef(storeHint, "unknown store %q: use %s", redact(spec), join("", forms))
}

// A storeSpec is a --store value, parsed.
type storeSpec struct {
	kind *storeKind
	arg  string // what kind.open takes: the file's path for bolt, the URL for redis and nats
}

// parseStore reads a --store value, reporting a malformed one as a usage
// error, before anything is opened. Errors never show a password.
func parseStore(spec string) (storeSpec, error) {
	k := kindOf(spec)
	if k == nil {
		return storeSpec{}, unknownStore(spec)
	}
	scheme, rest, _ := strings.Cut(spec, ":")
	arg, err := k.parse(spec, scheme, rest)
	if err != nil {
		return storeSpec{}, err
	}
	return storeSpec{kind: k, arg: arg}, nil
}

// String is the store as logs and errors show it.
func (s storeSpec) String() string { return s.kind.show(s.arg) }

// describe says what the store is, for the startup log.
func (s storeSpec) describe() string { return s.kind.describe(s.arg) }

// open opens the store. A store that cannot be opened is a runtime error,
// reported at once in one line.
func (s storeSpec) open(o storeOptions) (herd.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	store, err := s.kind.open(ctx, s.arg, o)
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
	found, err := s.kind.check(ctx, s.arg, w)
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
