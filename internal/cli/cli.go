// Package cli is the herd command: serve, pub, sub and bench. cmd/herd only
// wires the process to Main, so that every subcommand can be run and tested
// in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// IO is what a command reads and writes.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Reload receives when files named by flags (certificates, keys)
	// should be read again: cmd/herd sends on SIGHUP. nil means never.
	Reload <-chan struct{}
}

func (io IO) getenv(name string) string {
	if io.Getenv == nil {
		return os.Getenv(name)
	}
	return io.Getenv(name)
}

// A command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io IO) error
}

var commands = []command{
	{"serve", "run the hub (the default command)", runServe},
	{"pub", "publish an event to a hub", runPub},
	{"sub", "subscribe to hub topics or to any SSE URL", runSub},
	{"reopen", "open closed topics again, so that they take events", runReopen},
	{"bench", "benchmark a hub (scenarios B1–B6)", runBench},
	{"check", "validate herd serve's settings (flags, environment, --config file) and print them", runCheck},
	{"token", "mint a token granting topics, for development and scripts", runToken},
	{"health", "ask a hub whether it is ready (for container health checks)", runHealth},
	{"version", "print herd's version, commit and Go version", runVersion},
	{"refhub", "", runRefHub}, // hidden: the naive hub herd bench compares with
}

const usage = `herd: a Server-Sent Events hub and toolkit

Usage:
  herd [serve] [flags]          run the hub (default: localhost:8080, history in ./herd.db)
  herd pub [flags] TOPIC [DATA|-]
  herd sub [flags] TOPIC...|URL
  herd reopen [flags] TOPIC...  open closed topics again
  herd bench [flags] SCENARIO...|all
  herd check [--config FILE] [flags]
  herd token [flags]            mint a token (--key SECRET --publish SEL --subscribe SEL)
  herd health [--hub URL]       exit 0 if the hub is ready, 1 if not
  herd version                  print the version (also herd --version)
  herd help COMMAND             help for a command (also herd COMMAND -h)

A first try, in three terminals:
  herd --demo                   then open http://localhost:8080/demo/cowsay?client=hub
  herd sub news                 waits for events on the topic news
  herd pub news "hello"         the subscriber prints: hello

Exit status: 0 when done, 1 on an error, 2 on a usage error.
Documentation: https://github.com/herd-sse/herd (README.md and docs/)
`

// Main runs the herd command with args (without the program name) and
// returns the process exit status: 0 on success, 1 on a runtime error
// (printed as one line), 2 on a usage error (printed with a hint).
func Main(ctx context.Context, args []string, io IO) int {
	err := Run(ctx, args, io)
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case isUsage(err):
		fmt.Fprintf(io.Stderr, "herd: %v\n", err)
		var u *usageError
		if errors.As(err, &u) && u.hint != "" {
			fmt.Fprintf(io.Stderr, "Try: %s\n", u.hint)
		}
		return 2
	default:
		fmt.Fprintf(io.Stderr, "herd: %s\n", oneLine(err.Error()))
		var h *hintedError
		if errors.As(err, &h) {
			fmt.Fprintf(io.Stderr, "Try: %s\n", h.hint)
		}
		return 1
	}
}

// A hintedError is a runtime error with what to do about it.
type hintedError struct {
	err  error
	hint string // a command line or an action
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }

// withHint attaches a hint to err.
func withHint(err error, hint string) error { return &hintedError{err: err, hint: hint} }

// Run runs the herd command. A usage error is a *usageError.
func Run(ctx context.Context, args []string, io IO) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		switch {
		case len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
			fmt.Fprint(io.Stdout, usage)
			return nil
		case len(args) > 0 && (args[0] == "-version" || args[0] == "--version"):
			return runVersion(ctx, args[1:], io)
		}
		return runServe(ctx, args, io)
	}
	if args[0] == "help" {
		if len(args) == 1 {
			fmt.Fprint(io.Stdout, usage)
			return nil
		}
		if _, ok := lookup(args[1]); !ok {
			return unknownCommand(args[1])
		}
		return Run(ctx, []string{args[1], "-h"}, io)
	}
	if c, ok := lookup(args[0]); ok {
		return c.run(ctx, args[1:], io)
	}
	return unknownCommand(args[0])
}

// lookup finds a command by name.
func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// unknownCommand is the usage error for a command that does not exist,
// naming those it may have meant.
func unknownCommand(name string) error {
	var names []string
	for _, c := range commands {
		if c.summary != "" {
			names = append(names, c.name)
		}
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if s := suggest(name, names); len(s) > 0 {
		msg += "; did you mean " + join("herd ", s) + "?"
	} else {
		msg += " (commands: " + strings.Join(names, ", ") + ")"
	}
	return &usageError{msg: msg, hint: "herd help"}
}

// A usageError is a mistake in how a command was called.
type usageError struct {
	msg  string
	hint string // a command line to try instead
}

func (e *usageError) Error() string { return e.msg }

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

func usagef(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// parseHub parses the URL of a hub (--hub), which must be http(s) with a
// host; hint is the command line the usage error suggests instead.
func parseHub(raw, hint string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef(hint, "bad hub URL %q: want http(s)://host[:port]", redact(raw))
	}
	return u, nil
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// parseFlags parses args, allowing flags after positional arguments (as in
// "herd sub news --json"), and returns the positional arguments. Values
// of flags not given on the command line are taken from the environment
// variables in env (flag name → variable).
func parseFlags(fs *flag.FlagSet, args []string, io IO, env map[string]string) ([]string, error) {
	positional, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	_, err = applyEnv(fs, io, env)
	return positional, err
}

// parseArgs parses the command line: parseFlags without the environment.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	// The flag package prints its usage on any error: only -h should.
	help := fs.Usage
	fs.Usage = func() {}
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = help; fs.SetOutput(out) }()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help()
				return nil, err
			}
			return nil, flagError(fs, err)
		}
		rest := fs.Args()
		if t := terminatorAt(fs, args); t >= 0 && t == len(args)-len(rest)-1 {
			// The flag package consumed "--": all after it is positional,
			// even what looks like a flag (herd pub -- news --close).
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return positional, nil
}

// terminatorAt returns the index of the "--" that ends the flags of args,
// as fs.Parse reads them, or -1 if the flags end otherwise: a "--" that is
// a flag's value (--event --) ends nothing.
func terminatorAt(fs *flag.FlagSet, args []string) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return i
		}
		if len(a) < 2 || a[0] != '-' {
			return -1
		}
		name := strings.TrimPrefix(a[1:], "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			return -1 // fs.Parse fails on it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			i++ // the flag's value is the next argument, whatever it is
		}
	}
	return -1
}

// applyEnv sets the flags not given on the command line from the
// environment variables in env (flag name → variable), and returns the
// names of those it set.
func applyEnv(fs *flag.FlagSet, io IO, env map[string]string) ([]string, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var fromEnv []string
	for name, variable := range env {
		if set[name] {
			continue
		}
		if v := io.getenv(variable); v != "" {
			if err := fs.Set(name, v); err != nil {
				return nil, &usageError{msg: fmt.Sprintf("%s=%s: %v", variable, shown(name, v), err), hint: "unset " + variable}
			}
			fromEnv = append(fromEnv, name)
		}
	}
	return fromEnv, nil
}
