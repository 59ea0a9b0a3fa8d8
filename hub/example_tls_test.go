package hub_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/herd-sse/herd/hub"
	"github.com/herd-sse/herd/memory"
)

// Serve a hub over TLS through its TLS listener, so that the connection
// engine holds HTTP/1.1 streams over TLS 1.3 as it holds plain ones (on
// Linux): no goroutine each. HTTP/2 connections go to the hub's own HTTP/2
// server, which parks event streams too; TLS 1.2 HTTP/1.1 is served by
// net/http.
func ExampleHub_TLSListener() {
	store := memory.New(memory.Options{})
	defer store.Close()
	h, err := hub.New(hub.Config{Store: store})
	if err != nil {
		panic(err)
	}
	if err := h.Open(context.Background()); err != nil {
		panic(err)
	}
	defer h.Close(context.Background())
	cert, err := tls.LoadX509KeyPair("cert.pem", "key.pem")
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", ":8443")
	if err != nil {
		panic(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	srv := &http.Server{Handler: h}
	h.ConfigureHTTP2(srv)             // "h2" connections: the hub's HTTP/2 server
	srv.Serve(h.TLSListener(ln, cfg)) // not ServeTLS: the listener does TLS
}
