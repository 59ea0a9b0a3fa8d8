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
// report, topics and selectors) is package herd, the module's root: here,
// message.go holds the types of the events the hub sends of its own
// accord, errors.go the errors the hub reports and their HTTP statuses.
// The hub: hub.go (lifecycle, the follower), publish.go, subscribe.go,
// subscriber.go (a subscription's queue, and the waker it tells when
// there is something to take), consumer.go (the consumer's side: where
// its replay stands, its closed topics), replay.go, registry.go,
// endings.go (ends logged once no lock is held), counters.go, topic.go
// (the subscriber index), damaged.go and generation.go (what the hub does
// with a damaged event and a replaced log). HTTP:
// route.go (the route table and the guards every route passes), http.go
// (the hub's routes, answers), http_publish.go, http_subscribe.go,
// handover.go (a stream handed to the connection engine), auth.go,
// host.go, cors.go, limits.go, tls.go (TLSListener: TLS connections the
// engine can take from crypto/tls). The engine: engine_linux.go,
// tlsrecord.go (the TLS 1.3 records it seals), and clock.go (heartbeats
// and write timeouts on both paths, and their precision).
// The hub's HTTP/2 server (ConfigureHTTP2): h2.go (connections, frames,
// settings, flow control), h2_stream.go (streams, requests, bodies),
// h2_writer.go (the ResponseWriter), h2_events.go (parked event streams,
// the flusher, heartbeats), h2_read.go (the reader: whole frames from a
// buffer), h2_park_linux.go (idle h2c connections in an epoll set, no
// goroutine).
//
// A subscriber has one owner per side: the dispatcher queues to it under
// its mutex; one consumer at a time takes from it (the goroutine in
// subscriber.next, or the engine's writer holding its record) and owns
// its consumer state. It knows its consumer only as a waker: a channel
// that next waits on, or the engine's record of a parked connection.
//
// # Locks
//
// In the order they may be taken, each held briefly and never across I/O
// (logging included: an end is counted under the locks and logged after):
//
//	registry.mu       the subscribers and their index (dispatch holds it to read)
//	subscriber.mu     one subscriber's queue and state, and its waker's (the engine's record)
//	connEngine.mu     the engine's ready queue and registrations
//
// limits.mu, registry.endedMu and replayCache.mu are taken alone, or
// innermost (limits.mu and registry.endedMu inside registry.mu).
// The HTTP/2 server's h2Conn.wmu is held across a
// connection's writes and taken first (h2Conn.wmu, subscriber.mu,
// h2Conn.mu); h2Conn.mu (a connection's streams and windows) comes after
// subscriber.mu, and only h2Sweep.mu is taken under it (a connection
// entering or leaving the hub's HTTP/2 sweep). h2Sweep.mu is innermost:
// taken alone, under h2Conn.mu, or under a TLS connection's
// tlsRecordConn.rmu or wmu (a cipher used); the sweep takes those two
// under it with TryLock only (to drop an idle cipher). h2Poller.mu
// (parked connections) is taken alone, or under h2Conn.wmu when a failed
// write closes the socket. h2Socket.mu (a parked connection's descriptor:
// its system calls under the read lock, its close under the write lock)
// is innermost: under h2Conn.wmu, tlsRecordConn.rmu or wmu, or
// h2Poller.mu, or alone. tlsConns.mu and tlsCapture.mu (tls.go),
// Hub.mu (the hub's state), h2Server.mu (its HTTP/2 connections) and
// origins.mu (cors.go: the origins already logged) are taken alone.
package hub
