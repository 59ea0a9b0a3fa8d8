// Package sse implements Server-Sent Events exactly as the WHATWG HTML
// standard (§9.2) defines them, with the standard library only.
//
// It has three parts: the wire format ([Event], [AppendEvent], [Encoder],
// [Frame] and the parser [Reader]), a per-request stream for any net/http
// handler ([NewStream]), and a reconnecting client ([Client]).
//
// # Sending events from a handler
//
// [NewStream] turns a ResponseWriter into a stream: it sends the headers
// browsers and proxies need and flushes them at once, bounds every write
// with a deadline (so a client that stopped reading costs a bounded time),
// sends heartbeat comments while the stream is idle, and notices when the
// client goes away. With a [Drain] that the server starts on shutdown, it
// also ends by itself then, spread over a jittered window (the package
// changes nothing of the server's by itself):
//
//	var drain sse.Drain // srv.RegisterOnShutdown(drain.Start)
//
//	func quotes(w http.ResponseWriter, r *http.Request) {
//		s, err := sse.NewStream(w, r, &sse.Options{Drain: &drain})
//		if err != nil {
//			http.Error(w, err.Error(), http.StatusInternalServerError)
//			return
//		}
//		defer s.Close()
//		for q := range next(r.Context()) {
//			if err := s.Send(sse.Event{Data: q}); err != nil {
//				return
//			}
//		}
//		s.End() // a close event: browsers and htmx stop reconnecting
//	}
//
// An event's data may hold any text: each line is sent as its own "data:"
// line, whatever its line ends. Ids and event types holding CR, LF or NUL
// are refused with an error, so publisher input cannot inject fields or
// events. A [Frame] is an event encoded once, to be written to many
// streams.
//
// # Reading events
//
// A [Reader] parses any event stream, byte for byte as browsers do; [Read]
// is its iterator form. A [Client] follows a stream over reconnections:
//
//	req, _ := http.NewRequest("GET", url, nil)
//	for e, err := range new(sse.Client).Events(ctx, req) {
//		if err != nil {
//			return err // a status other than 200/204, a wrong content type, ...
//		}
//		fmt.Println(e.Data)
//	}
//
// It reconnects after the stream's "retry:" delay, sending Last-Event-ID,
// backs off while connections keep failing, and stops at a 204.
package sse
