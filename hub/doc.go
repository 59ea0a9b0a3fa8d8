// Package hub is herd's hub: topics, publishing, fan-out to subscribers,
// history with lossless Last-Event-ID resume, and a clean end of stream.
// A Hub is an http.Handler and can be embedded in any Go program; the herd
// command only wires flags to it.
//
// The hub keeps no state of its own that other nodes would need: a Store
// holds the log of events, assigns their positions and ids, and records
// closed topics and idempotency keys, so that any number of hubs sharing a
// store (Redis, NATS) agree on order, resume points and close.
//
// Each hub follows the store's log with one reader, encodes every event
// once, and offers it to the bounded queue of each subscriber whose
// selectors match. A publisher never waits for a subscriber: a subscriber
// whose queue is full is disconnected (it resumes with Last-Event-ID and
// loses nothing the history still holds).
//
// # Files
//
// The domain (Message, Event, Pos, the Store contract, the errors stores
// report, topics and selectors) is package herd, at the module's root;
// message.go here holds the types of the events the hub sends of its own
// accord, errors.go the errors the hub reports, topic.go the subscriber
// index.
// The hub: hub.go (lifecycle, the follower), publish.go, subscribe.go,
// subscriber.go (a subscription's queue and its consumer's side),
// replay.go, registry.go, counters.go. HTTP: route.go (the route table
// and the guards every route passes), http.go (the hub's routes, answers),
// http_publish.go, http_subscribe.go, handover.go (a stream handed to the
// connection engine), auth.go, host.go, cors.go, limits.go, tls.go
// (TLSListener: TLS connections the engine can take from crypto/tls). The
// engine: engine_linux.go, tlsrecord.go (TLS 1.3 records it seals).
//
// # Locks
//
// In the order they may be taken, each held briefly and never across I/O:
//
//	registry.mu       the subscribers and their index (dispatch holds it to read)
//	subscriber.mu     one subscriber's queue and state
//	connEngine.mu     the engine's ready queue and registrations
//
// limits.mu and replayCache.mu are taken alone, or innermost (limits.mu
// inside registry.mu). tlsConns.mu and tlsCapture.mu (tls.go) are taken
// alone.
package hub
