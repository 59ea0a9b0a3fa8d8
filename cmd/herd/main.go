// Command herd is a Server-Sent Events hub and toolkit. Run "herd -h".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/herd-sse/herd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first Ctrl-C (or SIGTERM) starts a clean stop; from then on the
	// signals take their default action, so a second one ends herd at
	// once, its drain cut short.
	context.AfterFunc(ctx, stop)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{})
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default: // nobody listens (a command other than serve)
			}
		}
	}()
	os.Exit(cli.Main(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Reload: reload}))
}
