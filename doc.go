// Package herd is the domain of herd's hub: what a publisher sends
// (Message), what a store keeps (Event, at a Pos in its log, made from the
// message by Message.Event, its booleans stored as Flags), topics and
// selectors, the Store contract every store implements, the errors stores
// report, and the helpers store authors share (FollowByReading, EpochIDs,
// TopicCounter, HistorySettings, CheckStored).
//
// It is a leaf: it imports the standard library only, no HTTP and no
// operating-system machinery, so that a store depends on nothing of the
// hub. Package hub (the machinery, HTTP and the connection engine) and
// every store (memory, bolt, redis, nats) import it; storetest is the
// conformance suite every store passes.
//
// # Files
//
// message.go (Message, Event, Pos, Flags), store.go (the Store interface,
// its options, and the optional capabilities a store may add: Pinger,
// EventSizer, Reopener, WriteChecker), errors.go, damaged.go and
// generation.go (the errors stores report), topic.go (topics and
// selectors), and the store authors' kit: follow.go (FollowByReading),
// ids.go (EpochIDs), topicstats.go (TopicCounter), settings.go
// (HistorySettings).
package herd
