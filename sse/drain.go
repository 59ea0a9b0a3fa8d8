package sse

import (
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"time"
	"weak"
)

// A drainer ends the open streams of one http.Server when it shuts down.
//
// http.Server.Shutdown waits for handlers to return, and a streaming
// handler never returns by itself, so every Stream registers with the
// drainer of the server found in its request context. When Shutdown
// starts, each stream is ended at a random moment within its
// ShutdownWindow: clients reconnect spread over that window instead of in
// one storm.
type drainer struct {
	mu       sync.Mutex
	streams  map[*Stream]*time.Timer
	shutdown bool
}

// drainers holds one drainer per server, keyed weakly so that a server
// that is never shut down can still be garbage collected.
var drainers struct {
	sync.Mutex
	m map[weak.Pointer[http.Server]]*drainer
}

func drainerFor(srv *http.Server) *drainer {
	key := weak.Make(srv)
	drainers.Lock()
	defer drainers.Unlock()
	if d := drainers.m[key]; d != nil {
		return d
	}
	if drainers.m == nil {
		drainers.m = make(map[weak.Pointer[http.Server]]*drainer)
	}
	d := &drainer{streams: make(map[*Stream]*time.Timer)}
	drainers.m[key] = d
	srv.RegisterOnShutdown(d.start)
	runtime.AddCleanup(srv, func(key weak.Pointer[http.Server]) {
		drainers.Lock()
		delete(drainers.m, key)
		drainers.Unlock()
	}, key)
	return d
}

// add registers s and returns the function that unregisters it.
func (d *drainer) add(s *Stream) (remove func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.streams[s] = nil
	if d.shutdown {
		d.schedule(s)
	}
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if t := d.streams[s]; t != nil {
			t.Stop()
		}
		delete(d.streams, s)
	}
}

func (d *drainer) start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shutdown = true
	for s := range d.streams {
		d.schedule(s)
	}
}

func (d *drainer) schedule(s *Stream) {
	d.streams[s] = time.AfterFunc(rand.N(s.opts.ShutdownWindow), s.drain)
}
