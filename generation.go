package herd

import "errors"

// Generations. A store shared between nodes can be wiped or replaced under
// them (a broker's data deleted, or restored from elsewhere): its log
// starts over, and what a node holds of the earlier log (its replay
// cache, its follower's position, the ids it handed out) describes events
// that are gone. Such a store names each incarnation of its log with a
// generation: Bounds reports it as it reads it now, its ids carry it
// (ParseID refuses the ids of an earlier one once Bounds or Follow has
// seen the new one), and Follow returns ErrReplaced when it changes.
//
// The hub then starts over: the follower ends every subscription (each
// resumes, and its id from the earlier generation gets a gap notice and
// the new generation's history), drops its replay cache, and follows the
// new log from its end. Every resume compares the generation of the
// cache with the store's own (a Bounds call it makes anyway), so no
// resume is ever served from a cache of another generation, even before
// the follower noticed.
var ErrReplaced = errors.New("hub: the store's log was wiped or replaced")
