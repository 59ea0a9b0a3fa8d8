package sse

import (
	"math/rand/v2"
	"sync"
	"time"
)

// A Drain ends event streams, spread out, when their server shuts down.
//
// http.Server.Shutdown waits for every handler to return, and a streaming
// handler returns only when its stream ends: without a Drain, Shutdown
// waits until the clients leave or its context ends. Register the drain's
// Start with the server and give the drain to each stream:
//
//	var drain sse.Drain
//	srv.RegisterOnShutdown(drain.Start)
//	...
//	s, err := sse.NewStream(w, r, &sse.Options{Drain: &drain})
//
// Each stream then ends at a random moment within its
// Options.ShutdownWindow, with a normal end of response: browsers
// reconnect (to another server, or this one restarted) spread out instead
// of in one storm, and resume with Last-Event-ID.
//
// The zero Drain is ready to use. Its methods are safe for concurrent use.
type Drain struct {
	mu      sync.Mutex
	streams map[*Stream]*time.Timer
	started bool
}

// Start ends every stream of the drain, each at a random moment within
// its ShutdownWindow, and the streams that join it afterwards at once.
func (d *Drain) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started = true
	for s := range d.streams {
		d.schedule(s)
	}
}

// add registers s and returns the function that unregisters it.
func (d *Drain) add(s *Stream) (remove func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.streams == nil {
		d.streams = make(map[*Stream]*time.Timer)
	}
	d.streams[s] = nil
	if d.started {
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

func (d *Drain) schedule(s *Stream) {
	d.streams[s] = time.AfterFunc(rand.N(s.opts.ShutdownWindow), s.drain)
}
