package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/herd-sse/herd"
)

// A Summary describes what Check found in a store file.
type Summary struct {
	Events       int      // events in the log, damaged ones included
	First, Last  herd.Pos // the oldest event held and the newest ever stored
	ClosedTopics int
	Keys         int   // idempotency keys remembered
	Size         int64 // the file's size in bytes
	Used         int64 // the bytes its records use (bbolt grows files ahead)
	// Unchecked counts events written before herd checksummed them: they
	// are read as they are, damaged or not.
	Unchecked int
	// DamagedEvents counts the events that fail their checksum or do not
	// parse: the store never serves them (see hub.DamagedEventError).
	// Damaged lists them, the first thousand.
	DamagedEvents int
	Damaged       []*herd.DamagedEventError
}

func (s Summary) String() string {
	str := fmt.Sprintf("%d events (positions %d to %d), %d closed topics, %d idempotency keys, %.1f MB",
		s.Events, s.First, s.Last, s.ClosedTopics, s.Keys, float64(s.Size)/1e6)
	if s.Unchecked > 0 {
		str += fmt.Sprintf("; %d events written before checksums, unchecked", s.Unchecked)
	}
	if s.DamagedEvents > 0 {
		str += fmt.Sprintf("; %d damaged events", s.DamagedEvents)
	}
	return str
}

// maxDamagedListed bounds Summary.Damaged, so that checking a file full of
// damage costs bounded memory; Events still counts them all.
const maxDamagedListed = 1000

// Check verifies the store file at path without changing it: the file is
// as long as its records say, every page of bbolt's tree is where its
// parent says and reached once, keys are in order, and every event's
// checksum matches and its record decodes as herd wrote it. It returns a
// *DamagedError for a damaged file: one that cannot be opened, or whose
// only damage is in events, which Summary.Damaged lists (a store opens
// such a file, and skips those events). It needs the file to itself: a
// running herd holds it.
func Check(path string) (Summary, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Summary{}, fmt.Errorf("bolt: %w", err)
	}
	if info.Size() == 0 {
		return Summary{}, &DamagedError{Path: path, Cause: "the file is empty"}
	}
	sum, err := verify(path, true)
	if err == nil && len(sum.Damaged) > 0 {
		d := sum.Damaged[0]
		err = &DamagedError{Path: path, Cause: fmt.Sprintf("%d of its %d events are damaged, the first at position %d: %s",
			sum.DamagedEvents, sum.Events, d.Pos, d.Cause)}
	}
	return sum, err
}

// verify opens the file read-only and walks it (see Check). full also
// verifies every event; without it, only the tree and the keys are.
func verify(path string, full bool) (sum Summary, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return sum, fmt.Errorf("bolt: %w", err)
	}
	sum.Size = info.Size()
	f, err := os.Open(path)
	if err != nil {
		return sum, fmt.Errorf("bolt: %w", err)
	}
	err = checkPages(f, sum.Size)
	f.Close()
	if err != nil {
		return sum, &DamagedError{Path: path, Cause: err.Error()}
	}
	var db *bbolt.DB
	err = guard(path, func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
		return err
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return sum, fmt.Errorf("bolt: %s is in use by another process", path)
	case errors.As(err, new(*DamagedError)):
		return sum, err
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return sum, &DamagedError{Path: path, Cause: "not a bbolt file, or its header is overwritten: " + err.Error()}
	case err != nil:
		return sum, &DamagedError{Path: path, Cause: err.Error()}
	}
	defer db.Close()
	err = guard(path, func() error {
		return db.View(func(tx *bbolt.Tx) error {
			sum.Used = tx.Size()
			if sum.Used > sum.Size {
				return fmt.Errorf("truncated: %d bytes, its records need %d", sum.Size, sum.Used)
			}
			return walk(tx, full, &sum, path)
		})
	})
	if err != nil && !errors.As(err, new(*DamagedError)) {
		err = &DamagedError{Path: path, Cause: err.Error()}
	}
	return sum, err
}

// walk reads every key of every bucket in order, and checks each record
// against herd's layout.
func walk(tx *bbolt.Tx, full bool, sum *Summary, path string) error {
	for _, name := range [][]byte{bucketMeta, bucketLog, bucketClosed, bucketKeys, bucketKeyLog} {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("not a herd store: no %q bucket", name)
		}
	}
	checked := checkedFrom(tx)
	ids, err := readEpoch(tx)
	if err != nil {
		return err
	}
	return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
		var prev []byte
		var check func(k, v []byte) error
		switch string(name) {
		case string(bucketLog):
			check = func(k, v []byte) error {
				if len(k) != 8 {
					return errors.New("a log key is not a position")
				}
				if sum.Events == 0 {
					sum.First = posOf(k)
				}
				sum.Events++
				if !full {
					return nil
				}
				_, unchecked, err := decode(k, v, posOf(k) < checked, false)
				if unchecked {
					sum.Unchecked++
				}
				if err != nil {
					sum.DamagedEvents++
					if len(sum.Damaged) < maxDamagedListed {
						sum.Damaged = append(sum.Damaged, damagedEvent(ids, path, posOf(k), err))
					}
				}
				return nil
			}
			sum.Last = herd.Pos(b.Sequence())
		case string(bucketClosed):
			check = fixed("closed topic", 0, 8, &sum.ClosedTopics)
		case string(bucketKeys):
			check = fixed("idempotency key", 0, 16, &sum.Keys)
		case string(bucketKeyLog):
			check = fixed("key log", 8, 0, new(int))
		case string(bucketMeta):
			check = checkMeta
		default:
			return fmt.Errorf("not a herd store: an unknown bucket %q", name)
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				return fmt.Errorf("bucket %q: a nested bucket, which herd never writes", name)
			}
			if prev != nil && bytes.Compare(prev, k) >= 0 {
				return fmt.Errorf("bucket %q: keys out of order", name)
			}
			prev = k
			if err := check(k, v); err != nil {
				return fmt.Errorf("bucket %q: %w", name, err)
			}
		}
		if string(name) == string(bucketLog) && sum.Events > 0 && posOf(prev) > sum.Last {
			return fmt.Errorf("bucket %q: an event after the last position", name)
		}
		return nil
	})
}

// fixed checks records whose keys (if keyLen > 0) or values (if valLen >
// 0) have a fixed length, and counts them.
func fixed(what string, keyLen, valLen int, count *int) func(k, v []byte) error {
	return func(k, v []byte) error {
		if (keyLen > 0 && len(k) != keyLen) || (valLen > 0 && len(v) != valLen) {
			return fmt.Errorf("a malformed %s record", what)
		}
		*count++
		return nil
	}
}
