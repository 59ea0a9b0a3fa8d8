// Package bolt is a hub.Store in a bbolt file (go.etcd.io/bbolt): the
// default store of herd serve. Every publish is on disk (fsynced) before
// it is acknowledged; concurrent publishes share one transaction and one
// sync (group commit), so durability does not cost throughput.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/herd-sse/herd"
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Retention, the idempotency window and the clock, as documented on
	// hub.StoreOptions.
	herd.StoreOptions
}

// maxBatch caps the publishes committed in one transaction.
const maxBatch = 1024

var (
	bucketMeta   = []byte("meta")   // "epoch", "epochsum", "trimmed", "checksums"
	bucketLog    = []byte("log")    // position → event; the bucket sequence is the last position
	bucketClosed = []byte("closed") // topic → position of its close
	bucketKeys   = []byte("keys")   // idempotency key → position, Unix nanoseconds
	bucketKeyLog = []byte("keylog") // position → idempotency key, for expiry in order
)

// A Store is a hub.Store in a bbolt file. Create it with Open.
type Store struct {
	ids     herd.EpochIDs
	checked herd.Pos // events from here on carry a checksum (see codec.go)
	db      *bbolt.DB
	path    string
	opts    herd.StoreOptions
	damaged atomic.Pointer[DamagedError] // set once a read or commit found the file damaged

	reqs chan *request
	quit chan struct{}
	done chan struct{} // the committer has exited

	mu     sync.Mutex
	notify chan struct{} // closed and replaced after each commit
	shut   bool
}

type request struct {
	m     herd.Message
	e     herd.Event
	dup   bool
	err   error
	ready chan struct{}
}

var _ herd.Store = (*Store)(nil)

// Open opens (creating if needed) the store in the file at path. It fails
// at once if the file cannot be created, is in use by another process, or
// is damaged or not a herd store (a *DamagedError): an existing file is
// verified (see Check) before bbolt is let near it.
func Open(path string, options Options) (*Store, error) {
	opts := options.WithDefaults()
	switch info, err := os.Stat(path); {
	case err == nil && info.IsDir():
		return nil, fmt.Errorf("bolt: %s is a directory, not a file", path)
	case err == nil && info.Size() > 0:
		if _, err := verify(path, false); err != nil {
			return nil, err
		}
	}
	var db *bbolt.DB
	err := guard(path, func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{
			Timeout:         time.Second,
			NoFreelistSync:  true, // fewer pages written per commit; rebuilt on open
			FreelistType:    bbolt.FreelistMapType,
			InitialMmapSize: 64 << 20, // so that commits rarely wait for readers to remap
		})
		return err
	})
	var damaged *DamagedError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("bolt: %s is in use by another process", path)
	case errors.As(err, &damaged):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("bolt: %w", err)
	}
	s := &Store{db: db, path: path, opts: opts, reqs: make(chan *request, maxBatch),
		quit: make(chan struct{}), done: make(chan struct{}), notify: make(chan struct{})}
	err = s.update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketLog, bucketClosed, bucketKeys, bucketKeyLog} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		epoch, err := readEpoch(tx)
		if err != nil {
			return &DamagedError{Path: path, Cause: err.Error()}
		}
		if epoch == "" {
			epoch = herd.NewEpoch()
			if err := meta.Put(metaEpoch, []byte(epoch)); err != nil {
				return err
			}
		}
		if meta.Get(metaEpochSum) == nil { // a new file, or one written before the sum
			if err := meta.Put(metaEpochSum, epochSum([]byte(epoch))); err != nil {
				return err
			}
		}
		s.ids = epoch
		if meta.Get(metaChecksums) == nil { // a new file, or one written before checksums
			if err := meta.Put(metaChecksums, key(herd.Pos(tx.Bucket(bucketLog).Sequence())+1)); err != nil {
				return err
			}
		}
		s.checked = checkedFrom(tx)
		return nil
	})
	if err != nil {
		db.Close()
		if errors.As(err, &damaged) {
			return nil, err
		}
		return nil, fmt.Errorf("bolt: %s: %w", path, err)
	}
	go s.commitLoop()
	return s, nil
}

// update runs fn in a write transaction, guarded: a damaged file is
// reported, and remembered.
func (s *Store) update(fn func(tx *bbolt.Tx) error) error {
	if d := s.damaged.Load(); d != nil {
		return d
	}
	return s.noteDamage(guard(s.path, func() error { return s.db.Update(fn) }))
}

// noteDamage remembers err if it says the file is damaged: every later
// call then fails at once, rather than reading the damage again.
func (s *Store) noteDamage(err error) error {
	var d *DamagedError
	if errors.As(err, &d) {
		s.damaged.CompareAndSwap(nil, d)
	}
	return err
}

// metaChecksums holds the first position written with a checksum: a
// record before it may be an unchecked one of an older herd.
var metaChecksums = []byte("checksums")

// checkedFrom returns the first position whose record must carry a
// checksum. A file that has not recorded it yet (written by an older herd,
// and not opened for writing since) has none after its last position.
func checkedFrom(tx *bbolt.Tx) herd.Pos {
	if v := tx.Bucket(bucketMeta).Get(metaChecksums); len(v) == 8 {
		return posOf(v)
	}
	return herd.Pos(tx.Bucket(bucketLog).Sequence()) + 1
}

// event decodes and verifies the record v under key k, as a
// *hub.DamagedEventError if it fails.
func (s *Store) event(k, v []byte, withData bool) (herd.Event, error) {
	e, _, err := decode(k, v, posOf(k) < s.checked, withData)
	if err != nil {
		return e, damagedEvent(s.ids, s.path, e.Pos, err)
	}
	e.ID = s.ID(e.Pos)
	return e, nil
}

// damagedEvent reports the record at p of the file at path, which decode
// refused with err.
func damagedEvent(ids herd.EpochIDs, path string, p herd.Pos, err error) *herd.DamagedEventError {
	d := &herd.DamagedEventError{Pos: p, ID: ids.ID(p), Cause: err.Error()}
	if re, ok := err.(*recordError); ok {
		d.Topics, d.Cause = re.topics, re.cause+" in "+path
	}
	return d
}

// Append implements hub.Store. The event is fsynced before Append returns.
func (s *Store) Append(ctx context.Context, m herd.Message) (herd.Event, bool, error) {
	if d := s.damaged.Load(); d != nil {
		return herd.Event{}, false, d
	}
	req := &request{m: m, ready: make(chan struct{})}
	select {
	case s.reqs <- req:
	case <-s.done:
		return herd.Event{}, false, herd.ErrStoreClosed
	case <-ctx.Done():
		return herd.Event{}, false, ctx.Err()
	}
	select {
	case <-req.ready:
		return req.e, req.dup, req.err
	case <-s.done: // closed after the request was queued
		select {
		case <-req.ready:
			return req.e, req.dup, req.err
		default:
			return herd.Event{}, false, herd.ErrStoreClosed
		}
	case <-ctx.Done():
		// The event may still be stored; an idempotency key makes the
		// publisher's retry safe.
		return herd.Event{}, false, ctx.Err()
	}
}

// commitLoop is the only writer: it commits pending appends in batches,
// one transaction and one fsync per batch, and applies age retention.
func (s *Store) commitLoop() {
	defer close(s.done)
	sweep := time.NewTicker(sweepInterval(s.opts))
	defer sweep.Stop()
	batch := make([]*request, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case req := <-s.reqs:
			batch = append(batch, req)
		fill:
			for len(batch) < maxBatch {
				select {
				case req := <-s.reqs:
					batch = append(batch, req)
				default:
					break fill
				}
			}
		case <-sweep.C:
		case <-s.quit:
			for {
				select {
				case req := <-s.reqs:
					req.err = herd.ErrStoreClosed
					close(req.ready)
				default:
					return
				}
			}
		}
		err := s.update(func(tx *bbolt.Tx) error {
			now := s.opts.Now()
			if err := s.expireKeys(tx, now); err != nil {
				return err
			}
			for _, req := range batch {
				if err := s.apply(tx, req, now); err != nil {
					return err
				}
			}
			return s.trim(tx, now)
		})
		for _, req := range batch {
			if err != nil {
				req.e, req.dup, req.err = herd.Event{}, false, fmt.Errorf("bolt: commit: %w", err)
			}
			close(req.ready)
		}
		if err != nil && s.damaged.Load() != nil {
			s.mu.Lock() // wake followers: their next read fails with the damage
			close(s.notify)
			s.notify = make(chan struct{})
			s.mu.Unlock()
		}
		if err == nil && len(batch) > 0 {
			s.mu.Lock()
			close(s.notify)
			s.notify = make(chan struct{})
			s.mu.Unlock()
		}
	}
}

func sweepInterval(o herd.StoreOptions) time.Duration {
	if o.Retention.MaxAge <= 0 {
		return time.Minute
	}
	return min(time.Minute, max(o.Retention.MaxAge/10, time.Second))
}

// apply stores one message in tx.
func (s *Store) apply(tx *bbolt.Tx, req *request, now time.Time) error {
	m := req.m
	keys := tx.Bucket(bucketKeys)
	if m.IdempotencyKey != "" {
		if v := keys.Get([]byte(m.IdempotencyKey)); len(v) == 16 {
			p := herd.Pos(binary.BigEndian.Uint64(v))
			req.e, req.dup = s.eventIn(tx, p), true
			return nil
		}
	}
	closed := tx.Bucket(bucketClosed)
	for _, t := range m.Topics {
		if closed.Get([]byte(t)) != nil {
			req.err = &herd.TopicClosedError{Topic: t}
			return nil
		}
	}
	log := tx.Bucket(bucketLog)
	seq, err := log.NextSequence()
	if err != nil {
		return err
	}
	p := herd.Pos(seq)
	e := herd.Event{Pos: p, ID: s.ID(p), Time: now, Topics: m.Topics, Type: m.Type, Data: m.Data,
		Retry: m.Retry.Truncate(time.Millisecond), ZeroRetry: m.ZeroRetry, NoData: m.NoData, Close: m.Close, Private: m.Private}
	if err := log.Put(key(p), encode(e)); err != nil {
		return err
	}
	if m.Close {
		for _, t := range m.Topics {
			if err := closed.Put([]byte(t), key(p)); err != nil {
				return err
			}
		}
	}
	if m.IdempotencyKey != "" {
		v := binary.BigEndian.AppendUint64(key(p), uint64(now.UnixNano()))
		if err := keys.Put([]byte(m.IdempotencyKey), v); err != nil {
			return err
		}
		if err := tx.Bucket(bucketKeyLog).Put(key(p), []byte(m.IdempotencyKey)); err != nil {
			return err
		}
	}
	req.e = e
	return nil
}

// eventIn returns the event at p, or only its position and id if it is no
// longer retained.
func (s *Store) eventIn(tx *bbolt.Tx, p herd.Pos) herd.Event {
	if v := tx.Bucket(bucketLog).Get(key(p)); v != nil {
		if e, err := s.event(key(p), v, true); err == nil {
			return e
		}
	}
	return herd.Event{Pos: p, ID: s.ID(p)}
}

// trim applies retention to the log. A damaged event's time is not known:
// it goes with the first whole event after it that is too old, so that age
// retention neither stops at it nor takes it early.
func (s *Store) trim(tx *bbolt.Tx, now time.Time) error {
	log := tx.Bucket(bucketLog)
	last := herd.Pos(log.Sequence())
	var drop [][]byte
	c := log.Cursor()
	damaged := 0 // events at the end of drop whose age is not known
	for k, v := c.First(); k != nil; k, v = c.Next() {
		p := posOf(k)
		if s.opts.Retention.MaxEvents > 0 && int(last-p+1) > s.opts.Retention.MaxEvents {
			drop, damaged = append(drop, k), 0
			continue
		}
		if s.opts.Retention.MaxAge <= 0 {
			break
		}
		t, whole := recordTime(k, v, posOf(k) < s.checked)
		if !whole {
			drop, damaged = append(drop, k), damaged+1
			continue
		}
		if now.Sub(t) <= s.opts.Retention.MaxAge {
			break
		}
		drop, damaged = append(drop, k), 0
	}
	drop = drop[:len(drop)-damaged]
	for _, k := range drop {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	if len(drop) > 0 {
		return tx.Bucket(bucketMeta).Put([]byte("trimmed"), key(posOf(drop[len(drop)-1])))
	}
	return nil
}

// expireKeys forgets idempotency keys older than the TTL.
func (s *Store) expireKeys(tx *bbolt.Tx, now time.Time) error {
	keys, keyLog := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyLog)
	kc := keyLog.Cursor()
	for k, name := kc.First(); k != nil; k, name = kc.First() {
		v := keys.Get(name)
		if len(v) == 16 && now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v[8:])))) <= s.opts.IdempotencyTTL {
			break
		}
		if err := keys.Delete(name); err != nil {
			return err
		}
		if err := kc.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// view runs fn in a read transaction, guarded against a damaged file
// (see update), or fails if the store is closed.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	s.mu.Lock()
	shut := s.shut
	s.mu.Unlock()
	if shut {
		return herd.ErrStoreClosed
	}
	if d := s.damaged.Load(); d != nil {
		return d
	}
	err := s.noteDamage(guard(s.path, func() error { return s.db.View(fn) }))
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return herd.ErrStoreClosed
	}
	return err
}

func trimmedIn(tx *bbolt.Tx) herd.Pos {
	if v := tx.Bucket(bucketMeta).Get([]byte("trimmed")); len(v) == 8 {
		return posOf(v)
	}
	return 0
}

// Read implements hub.Store.
func (s *Store) Read(ctx context.Context, after herd.Pos, lim herd.Limit) (events []herd.Event, gap bool, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		gap = after < trimmedIn(tx)
		c := tx.Bucket(bucketLog).Cursor()
		bytes := 0
		for k, v := c.Seek(key(after + 1)); k != nil; k, v = c.Next() {
			e, err := s.event(k, v, true)
			if err != nil {
				return err // the events before it are returned with it
			}
			if !lim.Fits(len(events), bytes, len(e.Data)) {
				break
			}
			bytes += len(e.Data)
			events = append(events, e)
		}
		return nil
	})
	if err != nil && !errors.Is(err, herd.ErrDamaged) {
		events = nil
	}
	return events, gap, err
}

// Follow implements hub.Store.
func (s *Store) Follow(ctx context.Context, after herd.Pos, fn func([]herd.Event) error) error {
	for {
		s.mu.Lock()
		wait, shut := s.notify, s.shut
		s.mu.Unlock()
		if shut {
			return herd.ErrStoreClosed
		}
		events, gap, err := s.Read(ctx, after, herd.FollowBatch())
		if err != nil && !errors.Is(err, herd.ErrDamaged) {
			return err
		}
		if gap {
			return fmt.Errorf("%w: events after %d were trimmed", herd.ErrLagged, after)
		}
		if len(events) > 0 {
			if err := fn(events); err != nil {
				return err
			}
			after = events[len(events)-1].Pos
		}
		if err != nil {
			return err // a damaged event: the caller goes on after it
		}
		if len(events) > 0 {
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
func (s *Store) Bounds(ctx context.Context) (b herd.Bounds, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog)
		b.Last, b.Trimmed = herd.Pos(log.Sequence()), trimmedIn(tx)
		if k, _ := log.Cursor().First(); k != nil {
			b.First = posOf(k)
		}
		return nil
	})
	return b, err
}

// Closed implements hub.Store.
func (s *Store) Closed(ctx context.Context, topics []string) (map[string]herd.Pos, error) {
	out := make(map[string]herd.Pos)
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClosed)
		for _, t := range topics {
			if v := b.Get([]byte(t)); len(v) == 8 {
				out[t] = posOf(v)
			}
		}
		return nil
	})
	return out, err
}

// Stats implements hub.Store. It scans the retained log, verifying every
// event's checksum; damaged events are left out.
func (s *Store) Stats(ctx context.Context) ([]herd.TopicStats, error) {
	var c herd.TopicCounter
	err := s.view(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			if e, err := s.event(k, v, false); err == nil { // damaged ones are left out
				c.Add(e)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketClosed).ForEach(func(t, v []byte) error {
			c.Closed(string(t), posOf(v), s.ID(posOf(v)))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return c.Stats(), nil
}

// ID implements hub.Store.
func (s *Store) ID(p herd.Pos) string { return s.ids.ID(p) }

// ParseID implements hub.Store.
func (s *Store) ParseID(id string) (herd.Pos, error) { return s.ids.ParseID(id) }

// Ping implements hub.Store.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(func(*bbolt.Tx) error { return nil })
}

// Close implements hub.Store: pending appends fail, followers end, and the
// file is closed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return nil
	}
	s.shut = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done // the committer has stopped: nothing else closes notify
	s.mu.Lock()
	close(s.notify)
	s.mu.Unlock()
	return s.db.Close()
}
