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
	{"bench", "benchmark a hub (scenarios B1–B6)", runBench},
	{"check", "validate herd serve's settings (flags, environment, --config file) and print them", runCheck},
	{"token", "mint a token granting topics, for development and scripts", runToken},
	{"refhub", "", runRefHub}, // hidden: the naive hub herd bench compares with
}

const usage = `herd: a Server-Sent Events hub and toolkit

Usage:
  herd [serve] [flags]          run the hub (default: localhost:8080)
  herd pub [flags] TOPIC [DATA|-]
  herd sub [flags] TOPIC...|URL
  herd bench [flags] SCENARIO...|all
  herd check [--config FILE] [flags]
  herd token [flags]            mint a token (--key SECRET --publish SEL --subscribe SEL)
  herd COMMAND -h               help for a command

Exit status: 0 when done, 1 on an error, 2 on a usage error.
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
		return 1
	}
}

// Run runs the herd command. A usage error is a *usageError.
func Run(ctx context.Context, args []string, io IO) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(io.Stdout, usage)
			return nil
		}
		return runServe(ctx, args, io)
	}
	if args[0] == "help" {
		fmt.Fprint(io.Stdout, usage)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], io)
		}
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", args[0]), hint: "herd -h"}
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

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// newFlagSet returns a flag set for a subcommand whose errors become usage
// errors and whose -h prints its usage.
func newFlagSet(name, synopsis string, io IO) *flag.FlagSet {
	fs := flag.NewFlagSet("herd "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(io.Stderr, "Usage: herd %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
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
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error(), hint: "herd " + strings.TrimPrefix(fs.Name(), "herd ") + " -h"}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return positional, nil
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
				return nil, &usageError{msg: fmt.Sprintf("%s=%q: %v", variable, v, err), hint: "unset " + variable}
			}
			fromEnv = append(fromEnv, name)
		}
	}
	return fromEnv, nil
}
