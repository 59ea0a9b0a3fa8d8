package cli

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/herd-sse/herd/hub"
)

// debugServer serves Go's profiler (net/http/pprof) on an address of its
// own, apart from the public API: profiles expose internals and cost CPU,
// so they are off unless --debug-addr asks, and belong on loopback.
type debugServer struct {
	srv *http.Server
	ln  net.Listener
}

func startDebug(addr string, allowedHosts []string, logger *slog.Logger) (*debugServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr: cannot listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// A page rebound to 127.0.0.1 must not read profiles: the command
	// line and heap may hold secrets.
	handler := hub.GuardHost(allowedHosts, mux)
	d := &debugServer{srv: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go d.srv.Serve(ln)
	if ip, ok := ln.Addr().(*net.TCPAddr); ok && !ip.IP.IsLoopback() {
		logger.Warn("the profiler listens beyond this machine", "addr", ln.Addr().String())
	}
	logger.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return d, nil
}

func (d *debugServer) Close() {
	if d != nil {
		d.srv.Close()
	}
}
