// Package herd is the domain of herd's hub: what a publisher sends
// (Message), what a store keeps (Event, at a Pos in its log), topics and
// selectors, the Store contract every store implements, the errors stores
// report, and the helpers store authors share (EpochIDs, TopicCounter,
// HistorySettings, CheckStored).
//
// It is a leaf: it imports the standard library only, and no HTTP or
// operating-system machinery, so that a store depends on nothing of the
// hub. Package hub (the machinery, HTTP and the connection engine) and
// every store (memory, bolt, redis, nats) import it; storetest is the
// conformance suite every store passes.
//
// # Files
//
// message.go (Message, Event, Pos), store.go (the Store interface, its
// options and its optional capabilities: EventSizer, Reopener,
// WriteChecker), errors.go, damaged.go and generation.go (the errors
// stores report), topic.go (topics and selectors), ids.go (EpochIDs),
// topicstats.go (TopicCounter), settings.go (HistorySettings).
package herd
