package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/herd-sse/herd/internal/demo"
	"github.com/herd-sse/herd/internal/web"
)

const serveSynopsis = "[--addr HOST:PORT]"

// runServe is herd serve.
func runServe(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("serve", serveSynopsis, io)
	addr := fs.String("addr", "localhost:8080", "address to listen on; the default accepts local connections only (env HERD_ADDR)")
	rest, err := parseFlags(fs, args, io, map[string]string{"addr": "HERD_ADDR"})
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("herd serve --addr localhost:8080", "serve takes no arguments, got %q", rest[0])
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", *addr, err)
	}
	srv := &http.Server{
		Handler:           routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	base := "http://" + displayAddr(ln.Addr(), *addr)
	fmt.Fprintf(io.Stdout, "herd listening on %s\n", base)
	fmt.Fprintf(io.Stdout, "cowsay demo: %s/demo/cowsay\n", base)
	return serveUntilDone(ctx, srv, ln)
}

// routes is the HTTP API of herd serve.
func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /demo/cowsay", demo.Page)
	mux.HandleFunc("GET /demo/cowsay/events", demo.Events)
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/demo/cowsay", http.StatusFound)
	})
	return mux
}

// serveUntilDone serves on ln until ctx is done, then shuts down: streams
// end spread over their drain window, and the server stops within a bound
// even if a connection never goes idle.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	<-errc
	return err
}

// displayAddr is the address to print: the one asked for, with the port
// the listener got (for ":0").
func displayAddr(got net.Addr, asked string) string {
	host, _, err := net.SplitHostPort(asked)
	_, port, err2 := net.SplitHostPort(got.String())
	if err != nil || err2 != nil {
		return got.String()
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
