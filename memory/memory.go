// Package memory is a hub.Store that keeps the log in memory: fast, and
// gone when the process ends. Ids carry a random epoch, so ids from an
// earlier process are recognised as unknown (and resuming from one gets a
// gap event) rather than mistaken for new ones.
package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/herd-sse/herd"
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Retention, the idempotency window and the clock, as documented on
	// hub.StoreOptions.
	herd.StoreOptions
}

// A Store is an in-memory hub.Store. Create it with New.
type Store struct {
	ids  herd.EpochIDs
	opts herd.StoreOptions

	mu      sync.Mutex
	events  []herd.Event // retained, in order; events[i].Pos == first+i
	last    herd.Pos
	trimmed herd.Pos
	closed  map[string]herd.Pos
	keys    map[string]keyEntry
	keyLog  []string // keys in the order stored, for expiry
	notify  chan struct{}
	shut    bool
}

type keyEntry struct {
	pos herd.Pos
	at  time.Time
}

var _ herd.Store = (*Store)(nil)

// New returns an empty Store.
func New(opts Options) *Store {
	return &Store{
		opts:   opts.WithDefaults(),
		ids:    herd.NewEpoch(),
		closed: make(map[string]herd.Pos),
		keys:   make(map[string]keyEntry),
		notify: make(chan struct{}),
	}
}

// Append implements hub.Store.
func (s *Store) Append(ctx context.Context, m herd.Message) (herd.Event, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return herd.Event{}, false, herd.ErrStoreClosed
	}
	now := s.opts.Now()
	s.expireKeys(now)
	if m.IdempotencyKey != "" {
		if k, ok := s.keys[m.IdempotencyKey]; ok {
			return s.eventAt(k.pos), true, nil
		}
	}
	for _, t := range m.Topics {
		if _, ok := s.closed[t]; ok {
			return herd.Event{}, false, &herd.TopicClosedError{Topic: t}
		}
	}
	s.last++
	e := herd.Event{
		Pos: s.last, ID: s.ID(s.last), Time: now,
		Topics: append([]string(nil), m.Topics...),
		Type:   m.Type, Data: m.Data, Retry: m.Retry, ZeroRetry: m.ZeroRetry, NoData: m.NoData, Close: m.Close, Private: m.Private,
	}
	s.events = append(s.events, e)
	if m.Close {
		for _, t := range m.Topics {
			s.closed[t] = e.Pos
		}
	}
	if m.IdempotencyKey != "" {
		s.keys[m.IdempotencyKey] = keyEntry{e.Pos, now}
		s.keyLog = append(s.keyLog, m.IdempotencyKey)
	}
	s.trim(now)
	close(s.notify)
	s.notify = make(chan struct{})
	return e, false, nil
}

// eventAt returns the event at p, or just its position and id if it is no
// longer retained.
func (s *Store) eventAt(p herd.Pos) herd.Event {
	if i := s.index(p); i >= 0 {
		return s.events[i]
	}
	return herd.Event{Pos: p, ID: s.ID(p)}
}

// index returns the slice index of p, or -1 if it is not retained.
func (s *Store) index(p herd.Pos) int {
	if len(s.events) == 0 {
		return -1
	}
	i := int(p - s.events[0].Pos)
	if p < s.events[0].Pos || i >= len(s.events) {
		return -1
	}
	return i
}

// trim applies retention.
func (s *Store) trim(now time.Time) {
	n := 0
	if max := s.opts.Retention.MaxEvents; max > 0 && len(s.events) > max {
		n = len(s.events) - max
	}
	if age := s.opts.Retention.MaxAge; age > 0 {
		for n < len(s.events) && now.Sub(s.events[n].Time) > age {
			n++
		}
	}
	if n == 0 {
		return
	}
	s.trimmed = s.events[n-1].Pos
	clear(s.events[:n]) // drop references for the GC
	s.events = s.events[n:]
	if cap(s.events) > 2*len(s.events)+1024 {
		s.events = append([]herd.Event(nil), s.events...)
	}
}

func (s *Store) expireKeys(now time.Time) {
	n := 0
	for n < len(s.keyLog) {
		k := s.keys[s.keyLog[n]]
		if now.Sub(k.at) <= s.opts.IdempotencyTTL {
			break
		}
		delete(s.keys, s.keyLog[n])
		n++
	}
	if n > 0 {
		s.keyLog = s.keyLog[n:]
	}
}

// Read implements hub.Store.
func (s *Store) Read(ctx context.Context, after herd.Pos, lim herd.Limit) ([]herd.Event, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return nil, false, herd.ErrStoreClosed
	}
	s.trim(s.opts.Now())
	return s.readLocked(after, lim), after < s.trimmed, nil
}

func (s *Store) readLocked(after herd.Pos, lim herd.Limit) []herd.Event {
	if len(s.events) == 0 || after >= s.last {
		return nil
	}
	start := 0
	if after >= s.events[0].Pos {
		start = int(after-s.events[0].Pos) + 1
	}
	end, bytes := start, 0
	for end < len(s.events) && lim.Fits(end-start, bytes, len(s.events[end].Data)) {
		bytes += len(s.events[end].Data)
		end++
	}
	return append([]herd.Event(nil), s.events[start:end]...)
}

// Follow implements hub.Store.
func (s *Store) Follow(ctx context.Context, after herd.Pos, fn func([]herd.Event) error) error {
	for {
		s.mu.Lock()
		if s.shut {
			s.mu.Unlock()
			return herd.ErrStoreClosed
		}
		if after < s.trimmed {
			s.mu.Unlock()
			return fmt.Errorf("%w: events after %d were trimmed (up to %d)", herd.ErrLagged, after, s.trimmed)
		}
		batch := s.readLocked(after, herd.FollowBatch())
		wait := s.notify
		s.mu.Unlock()
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return err
			}
			after = batch[len(batch)-1].Pos
			continue
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Bounds implements hub.Store.
func (s *Store) Bounds(ctx context.Context) (herd.Bounds, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return herd.Bounds{}, herd.ErrStoreClosed
	}
	s.trim(s.opts.Now())
	b := herd.Bounds{Last: s.last, Trimmed: s.trimmed}
	if len(s.events) > 0 {
		b.First = s.events[0].Pos
	}
	return b, nil
}

// Closed implements hub.Store.
func (s *Store) Closed(ctx context.Context, topics []string) (map[string]herd.Pos, error) {
	return s.closes(topics, false)
}

// closes returns where each of topics was closed (open ones are absent),
// and with forget reopens them.
func (s *Store) closes(topics []string, forget bool) (map[string]herd.Pos, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return nil, herd.ErrStoreClosed
	}
	out := make(map[string]herd.Pos)
	for _, t := range topics {
		if p, ok := s.closed[t]; ok {
			out[t] = p
			if forget {
				delete(s.closed, t)
			}
		}
	}
	return out, nil
}

// Stats implements hub.Store.
func (s *Store) Stats(ctx context.Context) ([]herd.TopicStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return nil, herd.ErrStoreClosed
	}
	s.trim(s.opts.Now())
	return herd.CountTopics(s.events, s.closed, s.ID), nil
}

// ID implements hub.Store.
func (s *Store) ID(p herd.Pos) string { return s.ids.ID(p) }

// ParseID implements hub.Store.
func (s *Store) ParseID(id string) (herd.Pos, error) { return s.ids.ParseID(id) }

// Ping implements hub.Store.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return herd.ErrStoreClosed
	}
	return nil
}

// Close implements hub.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.shut {
		s.shut = true
		close(s.notify)
	}
	return nil
}
