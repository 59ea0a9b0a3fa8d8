package hub

// EarliestID, given as the id to resume after, asks for all the history
// held.
const EarliestID = "earliest"

// The types of the events the hub sends of its own accord (besides the
// close event, whose type Config.CloseEvent names). Publishing them is
// refused.
const (
	// GapEvent reports a replay that cannot start where the client asked.
	GapEvent = "gap"
	// ExpiredEvent ends a stream whose token expired. It has no id, so the
	// page can resume where it was once it has a fresh token; a
	// reconnection with the expired one is answered 401, which stops
	// EventSource instead of letting it retry.
	ExpiredEvent = "token-expired"
)
