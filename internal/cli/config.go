package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// A config file mirrors herd serve's flags in TOML, one key per flag:
//
//	addr = ":8080"
//	store = "redis://10.0.0.5:6379/0"
//	cors-origins = ["https://app.example.com"]
//	max-event-size = "64KiB"
//
// Flags win over environment variables, which win over the file.

// loadServe reads herd serve's settings from args, the environment and
// the config file (--config or HERD_CONFIG), and checks them. It returns
// where each setting came from: "flag", "env", "file" or "default".
func loadServe(command, synopsis string, args []string, io IO, extra ...func(*flag.FlagSet)) (*serveFlags, *flag.FlagSet, map[string]string, error) {
	fs, f, config := newServeFlagSet(command, synopsis, io, extra...)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(rest) > 0 {
		return nil, nil, nil, usagef("herd "+command+" --addr localhost:8080", "%s takes no arguments, got %q", command, rest[0])
	}
	// Every setting has a variable: HERD_ and its name in capitals.
	source := map[string]string{}
	env := map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) {
		source[fl.Name] = "default"
		env[fl.Name] = "HERD_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
	})
	fs.Visit(func(fl *flag.Flag) { source[fl.Name] = "flag" })
	fromEnv, err := applyEnv(fs, io, env)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, name := range fromEnv {
		source[name] = "env"
	}
	if *config != "" {
		if err := applyConfig(fs, *config, source); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := f.check(); err != nil {
		return nil, nil, nil, err
	}
	f.source = source
	return f, fs, source, nil
}

// newServeFlagSet defines herd serve's flags, and extra ones.
func newServeFlagSet(command, synopsis string, io IO, extra ...func(*flag.FlagSet)) (*flag.FlagSet, *serveFlags, *string) {
	fs := newFlagSet(command, synopsis, io)
	f := &serveFlags{}
	f.register(fs)
	for _, register := range extra {
		register(fs)
	}
	config := fs.String("config", "", "read settings from this TOML `FILE` (keys are flag names); flags and HERD_* variables win (env HERD_CONFIG)")
	return fs, f, config
}

// applyConfig sets the flags the file names, unless a flag or variable
// set them already.
func applyConfig(fs *flag.FlagSet, path string, source map[string]string) error {
	hint := "herd check --config " + path
	var values map[string]any
	md, err := toml.DecodeFile(path, &values)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			msg := perr.Message
			if isSecret(perr.LastKey) {
				msg = "not a valid TOML value (not shown: it is a secret); quote strings"
			}
			return usagef(hint, "config %s: line %d: %s", path, perr.Position.Line, msg)
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	keys := md.Keys()
	for _, k := range keys {
		name := k.String()
		fl := fs.Lookup(name)
		if fl == nil || name == "config" || len(k) > 1 {
			msg := fmt.Sprintf("config %s: unknown setting %q (keys are herd serve's flag names, like addr or max-event-size)", path, name)
			var names []string
			fs.VisitAll(func(f *flag.Flag) {
				if f.Name != "config" {
					names = append(names, f.Name)
				}
			})
			if a, ok := flagAliases[name]; ok && fs.Lookup(a.flag) != nil {
				msg += "; herd has " + a.flag + " instead: " + a.flag + " = \"" + a.value + "\""
			} else if s := suggest(name, names); len(s) > 0 {
				msg += "; did you mean " + join("", s) + "?"
			}
			return usagef(hint, "%s", msg)
		}
		if source[name] != "default" {
			continue // a flag or variable wins
		}
		v, err := configValue(values[name])
		if err == nil {
			err = fs.Set(name, v)
		}
		if err != nil {
			reason := err.Error()
			if want := wanted(fl); want != "" {
				if reason == "parse error" || reason == "value out of range" {
					reason = want
				} else {
					reason += "; " + want
				}
			}
			msg := fmt.Sprintf("config %s: %s = %s: %s", path, name, shown(name, fmt.Sprint(values[name])), reason)
			return usagef(hint, "%s", msg)
		}
		source[name] = "file"
	}
	return nil
}

// configValue turns a TOML value into a flag's text.
func configValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return "", fmt.Errorf("want a list of strings")
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("unsupported value: a %T (want a string, number, boolean or list of strings)", v)
}

// secrets are the settings never printed: check hides them, and errors
// about them do not quote them.
var secrets = []string{"publish-key", "jwt-key", "key", "mercure-publisher-jwt-key", "mercure-subscriber-jwt-key"}

func isSecret(name string) bool { return slices.Contains(secrets, name) }

// shown is a setting's value as errors and check print it: a secret not
// at all, a URL without its credentials.
func shown(name, value string) string {
	if isSecret(name) {
		return "(not shown)"
	}
	return strconv.Quote(redact(value))
}

const checkSynopsis = "[--offline] [--config FILE] [herd serve flags]"

// runCheck is herd check: validate a configuration as herd serve would,
// check its store (a bolt file record by record, a broker by contacting
// it, changing nothing), and print the effective settings as a config
// file, with where each comes from. It listens on nothing. With
// --offline it does not look at the store.
func runCheck(ctx context.Context, args []string, io IO) error {
	var offline bool
	f, fs, source, err := loadServe("check", checkSynopsis, args, io, func(fs *flag.FlagSet) {
		fs.BoolVar(&offline, "offline", false, "check the settings only: do not read the store's file or contact its broker")
	})
	if err != nil {
		return err
	}
	// What serve checks only when it starts: files, keys and the hub's
	// own configuration.
	if f.transport.tls() {
		if err := (&certificate{flags: &f.transport}).load("localhost"); err != nil {
			return err
		}
	}
	if _, err := f.auth.authenticator(); err != nil {
		return err
	}
	found := "not looked at (--offline)"
	if !offline {
		spec, _ := parseStore(f.store) // checked by loadServe
		if found, err = spec.check(ctx, io.Stdout); err != nil {
			return err
		}
	}
	return printSettings(io.Stdout, fs, source, found)
}

// printSettings writes the flags' values as a config file, secrets
// hidden, each with where it came from, and what was found of the store.
func printSettings(w io.Writer, fs *flag.FlagSet, source map[string]string, store string) error {
	fmt.Fprintln(w, "# herd serve: effective settings (checked)")
	fmt.Fprintf(w, "# store: %s\n", store)
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		name, value := fl.Name, fl.Value.String()
		if name == "config" || name == "offline" {
			return
		}
		switch {
		case isSecret(name) && value != "":
			_, err = fmt.Fprintf(w, "# %-22s = (set, not shown)%19s # %s\n", name, "", source[name])
			return
		case name == "store":
			value = strconv.Quote(redact(value))
		default:
			value = tomlValue(fl, value)
		}
		if _, werr := fmt.Fprintf(w, "%-24s = %-34s # %s\n", name, value, source[name]); werr != nil {
			err = werr
		}
	})
	return err
}

// tomlValue writes a flag's value as TOML: booleans and numbers bare,
// everything else quoted.
func tomlValue(fl *flag.Flag, v string) string {
	if g, ok := fl.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool, int, float64:
			return v
		}
	}
	return strconv.Quote(v)
}
