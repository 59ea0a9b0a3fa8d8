package cli

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// A helpDoc is a command's help beyond its synopsis and flags.
type helpDoc struct {
	about    string      // what the command does: a few lines
	examples []string    // command lines, each a line of its own
	groups   []flagGroup // the flags by concern; nil: one list
	footer   string      // after the flags
}

// A flagGroup titles some of a command's flags.
type flagGroup struct {
	title string
	flags []string
}

// serveGroups sort herd serve's many flags by concern. A flag missing
// here is listed under "Other flags", so none can be forgotten.
var serveGroups = []flagGroup{
	{"Listening", []string{"addr", "allowed-hosts", "cors-origins", "config"}},
	{"History", []string{"store", "history-max-events", "history-max-age", "idempotency-ttl", "change-history-settings"}},
	{"Publishing", []string{"publish-key", "publish-rate", "publish-burst", "max-event-size", "max-topics"}},
	{"Tokens", []string{"jwt-key", "jwt-public-key", "subscribe-auth", "token-cookie", "token-query"}},
	{"Mercure protocol", []string{"mercure-publisher-jwt-key", "mercure-subscriber-jwt-key", "mercure-anonymous", "mercure-subscriptions", "mercure-cookie", "mercure-protocol-version-compatibility"}},
	{"Streams", []string{"heartbeat", "retry", "close-event", "write-timeout", "shutdown-window",
		"queue-length", "queue-bytes", "max-subscribers", "max-subscribers-per-ip", "engine"}},
	{"TLS and protocols", []string{"tls", "tls-cert", "tls-key", "h2c", "http3", "h2-max-streams", "h2-engine"}},
	{"Operating", []string{"ui", "peers", "demo", "log-level", "log-format", "debug-addr", "offline"}},
}

const serveEnvNote = `Every flag can also be set by a variable, HERD_ and its name in capitals
(HERD_MAX_EVENT_SIZE=64KiB), or in the --config file (max-event-size = "64KiB").
Flags win over variables, which win over the file.`

var helpDocs = map[string]helpDoc{
	"serve": {
		about: `Run the hub: publish over HTTP (POST /events), subscribe with Server-Sent
Events (GET /events?topic=...), with history kept in a file by default.
It listens on localhost only unless told otherwise with --addr.`,
		examples: []string{
			"herd                                    # localhost:8080, history in ./herd.db",
			"herd --demo                             # also publish the cowsay quotes",
			"herd --addr :8080 --publish-key \"$KEY\"  # on every interface, publishers need the key",
			"herd --store redis://localhost:6379/0   # one hub over many nodes",
		},
		groups: serveGroups,
		footer: serveEnvNote,
	},
	"check": {
		about: `Validate herd serve's settings (flags, HERD_* variables, --config file),
contact the store to make sure it answers (a bolt file is verified record
by record, nothing is changed), and print where each setting came from.`,
		examples: []string{"herd check --config /etc/herd/herd.toml", "herd check --store redis://localhost:6379/0 --offline"},
		groups:   serveGroups,
		footer:   serveEnvNote,
	},
	"pub": {
		about: `Publish one event to a hub and print its id. The data is the argument
after the topic, or stdin when it is - or absent (and stdin is not a
terminal), less its final newline. Failed attempts are retried with the
same idempotency key, so an event is never published twice.`,
		examples: []string{
			`herd pub news "hello"`,
			`echo '{"price": 42}' | herd pub --event price stocks/acme`,
			`herd pub --close news "that's all"      # the last event: subscribers stop`,
			`herd pub --hub https://hub.example.com --key "$HERD_PUBLISH_KEY" news hi`,
		},
	},
	"sub": {
		about: `Print the events of hub topics, one data per line (or --json), following
the stream over reconnections (resuming from the last id seen) until the
topics are closed or Ctrl-C. A subscription starts with the next event;
--last-event-id earliest replays the history first. Given a URL instead of
topics, it follows any Server-Sent Events stream.`,
		examples: []string{
			"herd sub news",
			"herd sub --last-event-id earliest 'news/*'",
			"herd sub --json --key \"$TOKEN\" private/orders",
			"herd sub --close-event closeStream http://localhost:8080/demo/cowsay/events",
		},
	},
	"bench": {
		about: `Measure a hub under load (Linux): scenarios B1 to B6, each against a
baseline measured in the same run, the results as ratios.`,
		examples: []string{"herd bench B1", "herd bench --subs 10000 --duration 20s all"},
	},
	"token": {
		about: `Mint a token granting topics, for development and scripts. Production
tokens come from your own application, signed with the same key.`,
		examples: []string{
			"herd token --key \"$HERD_JWT_KEY\" --subscribe 'orders/42/*' --ttl 1h",
			"herd token --key \"$HERD_JWT_KEY\" --publish '**'",
		},
	},
	"health": {
		about:    `Ask a hub whether it is ready: exit 0 if so, 1 if not (for container health checks).`,
		examples: []string{"herd health", "herd health --hub http://localhost:8080"},
	},
	"version": {about: "Print herd's version, commit and Go version."},
}

// newFlagSet returns a flag set for a subcommand: its errors become usage
// errors (see parseArgs) and -h prints its help to stdout.
func newFlagSet(name, synopsis string, io IO) *flag.FlagSet {
	fs := flag.NewFlagSet("herd "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() { printHelp(io.Stdout, name, synopsis, fs) }
	return fs
}

// printHelp writes a command's help: synopsis, what it does, examples,
// then its flags (by group if it has groups).
func printHelp(w io.Writer, name, synopsis string, fs *flag.FlagSet) {
	doc := helpDocs[name]
	fmt.Fprintf(w, "Usage: herd %s %s\n", name, synopsis)
	if doc.about != "" {
		fmt.Fprintf(w, "\n%s\n", doc.about)
	}
	if len(doc.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range doc.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	listed := map[string]bool{}
	for _, g := range doc.groups {
		var flags []*flag.Flag
		for _, n := range g.flags {
			if f := fs.Lookup(n); f != nil {
				flags = append(flags, f)
				listed[n] = true
			}
		}
		if len(flags) > 0 {
			fmt.Fprintf(w, "\n%s:\n", g.title)
			printFlags(w, flags)
		}
	}
	var rest []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !listed[f.Name] {
			rest = append(rest, f)
		}
	})
	if len(rest) > 0 {
		title := "Flags"
		if len(listed) > 0 {
			title = "Other flags"
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		printFlags(w, rest)
	}
	if doc.footer != "" {
		fmt.Fprintf(w, "\n%s\n", doc.footer)
	}
}

// printFlags lists flags the way they are typed (--name VALUE), each
// with its usage and its default when that is not the zero value.
func printFlags(w io.Writer, flags []*flag.Flag) {
	for _, f := range flags {
		kind, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		head := dash + f.Name
		switch kind {
		case "":
		case "string", "value":
			head += " VALUE"
		case "int", "uint", "float":
			head += " N"
		default:
			head += " " + strings.ToUpper(kind)
		}
		fmt.Fprintf(w, "  %s\n      %s", head, usage)
		if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "0s" && !strings.Contains(usage, "(default") {
			if g, ok := f.Value.(flag.Getter); ok {
				if _, isString := g.Get().(string); isString {
					d = fmt.Sprintf("%q", d)
				}
			}
			fmt.Fprintf(w, " (default %s)", d)
		}
		fmt.Fprintln(w)
	}
}

// flagError turns the flag package's message for a bad command line into
// one that says what to type: the flag as typed (--name), what its value
// should look like, and the flags a mistyped name may have meant.
func flagError(fs *flag.FlagSet, err error) error {
	hint := "herd " + strings.TrimPrefix(fs.Name(), "herd ") + " -h"
	msg := err.Error()
	if m := unknownFlag.FindStringSubmatch(msg); m != nil {
		name := strings.TrimLeft(m[1], "-")
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		out := fmt.Sprintf("unknown flag --%s", name)
		if alias, ok := flagAliases[name]; ok && fs.Lookup(alias.flag) != nil {
			out += "; " + alias.hint("--")
		} else if s := suggest(name, names); len(s) > 0 {
			out += "; did you mean " + join("--", s) + "?"
		}
		return &usageError{msg: out, hint: hint}
	}
	if m := needsValue.FindStringSubmatch(msg); m != nil {
		name := strings.TrimLeft(m[1], "-")
		out := fmt.Sprintf("--%s needs a value", name)
		if f := fs.Lookup(name); f != nil {
			if want := wanted(f); want != "" {
				out += ": " + want
			}
		}
		return &usageError{msg: out, hint: hint}
	}
	if m := badValue.FindStringSubmatch(msg); m != nil {
		value, name, reason := m[1], strings.TrimLeft(m[2], "-"), m[3]
		if f := fs.Lookup(name); f != nil {
			if want := wanted(f); want != "" && (reason == "parse error" || reason == "value out of range") {
				reason = want
			}
			value = shown(name, value)
		}
		return &usageError{msg: fmt.Sprintf("--%s %s: %s", name, value, reason), hint: hint}
	}
	return &usageError{msg: msg, hint: hint}
}

// flagAliases are the names other servers give to herd's settings, and
// what herd calls them.
var flagAliases = map[string]alias{
	"port":     {"addr", ":PORT (or HOST:PORT), like :8080"},
	"host":     {"addr", "HOST:PORT, like localhost:8080"},
	"listen":   {"addr", "HOST:PORT or :PORT, like :8080"},
	"bind":     {"addr", "HOST:PORT or :PORT, like :8080"},
	"db":       {"store", "bolt:PATH, like bolt:herd.db"},
	"database": {"store", "bolt:PATH, like bolt:herd.db"},
	"file":     {"store", "bolt:PATH, like bolt:herd.db"},
	"redis":    {"store", "redis://HOST:PORT/DB"},
	"nats":     {"store", "nats://HOST:PORT"},
	"origins":  {"cors-origins", "a list of origins, like https://app.example.com"},
	"key":      {"publish-key", "a secret publishers send as Authorization: Bearer KEY"},
}

// An alias points a name herd does not use to the flag it has instead.
type alias struct{ flag, value string }

// hint says, with prefix before the flag's name ("--" for the command
// line, "" for the config file), which flag to use and its value.
func (a alias) hint(prefix string) string {
	return fmt.Sprintf("herd has %[1]s%[2]s instead: %[1]s%[2]s %[3]s", prefix, a.flag, a.value)
}

var (
	unknownFlag = regexp.MustCompile(`^flag provided but not defined: (\S+)$`)
	needsValue  = regexp.MustCompile(`^flag needs an argument: (\S+)$`)
	badValue    = regexp.MustCompile(`(?s)^invalid (?:boolean )?value "(.*)" for (?:flag )?(\S+): (.*)$`)
)

// wanted describes the values a flag takes, by their type.
func wanted(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case time.Duration:
		return "want a duration, like 30s, 1m30s or 250ms"
	case int, int64, uint, uint64:
		return "want a whole number"
	case float64:
		return "want a number, like 10 or 0.5"
	case bool:
		return "want true or false"
	}
	if reflect.TypeOf(f.Value) == reflect.TypeFor[*byteSize]() {
		return "want a size, like 65536, 64KiB or 1MiB"
	}
	return ""
}

// suggest returns the candidates a mistyped word may have meant: those
// within a small edit distance, or starting with it, closest first.
func suggest(word string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	var found []scored
	limit := max(1, len(word)/3)
	for _, c := range candidates {
		d := editDistance(word, c)
		if d <= limit || related(word, c) {
			found = append(found, scored{c, d})
		}
	}
	slices.SortStableFunc(found, func(a, b scored) int { return a.d - b.d })
	var out []string
	for _, f := range found[:min(len(found), 3)] {
		out = append(out, f.s)
	}
	return out
}

// related reports whether word is a shortening or a lengthening of c
// ("max-event" of "max-event-size", "publish" of "pub"), or has all of
// its dash-separated parts ("last-id" of "last-event-id").
func related(word, c string) bool {
	if len(word) < 3 || len(c) < 3 {
		return false
	}
	if strings.HasPrefix(c, word) || strings.HasPrefix(word, c) {
		return true
	}
	parts := strings.Split(word, "-")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || !slices.Contains(strings.Split(c, "-"), p) {
			return false
		}
	}
	return true
}

// editDistance is the Damerau–Levenshtein distance (with adjacent
// transpositions, the commonest typo) between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// join lists words with a prefix each: "--a, --b or --c".
func join(prefix string, words []string) string {
	var b strings.Builder
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(prefix + w)
	}
	return b.String()
}
