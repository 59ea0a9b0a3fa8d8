package bolt

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/herd-sse/herd"
)

// BenchmarkAppend compares the store's group commit with the obvious
// baseline, one bbolt transaction (and so one fsync) per event, from 64
// concurrent publishers in the same run. Both are durable on return.
func BenchmarkAppend(b *testing.B) {
	m := herd.Message{Topics: []string{"orders/42"}, Data: `{"status": "shipped", "carrier": "moo express"}`}
	b.Run("groupCommit", func(b *testing.B) {
		s, err := Open(filepath.Join(b.TempDir(), "herd.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		parallel(b, func() error {
			_, _, err := s.Append(context.Background(), m)
			return err
		})
	})
	b.Run("txPerEvent", func(b *testing.B) {
		db, err := bbolt.Open(filepath.Join(b.TempDir(), "naive.db"), 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucketLog); return err })
		parallel(b, func() error {
			return db.Update(func(tx *bbolt.Tx) error {
				log := tx.Bucket(bucketLog)
				seq, _ := log.NextSequence()
				e := herd.Event{Pos: herd.Pos(seq), Time: time.Now(), Topics: m.Topics, Data: m.Data}
				return log.Put(binary.BigEndian.AppendUint64(nil, seq), encode(e))
			})
		})
	})
}

func parallel(b *testing.B, op func() error) {
	b.SetParallelism(32)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
}

// BenchmarkRead measures a replay from the file: 1,000 events read back
// and decoded (checksums verified) by one Read, as a resume that missed
// them does.
func BenchmarkRead(b *testing.B) {
	const behind = 1000
	s, err := Open(filepath.Join(b.TempDir(), "herd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := herd.Message{Topics: []string{"bench"}, Data: `{"price": 42.17, "symbol": "HERD"}`}
	for range behind {
		if _, _, err := s.Append(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		events, _, err := s.Read(context.Background(), 0, herd.Limit{Events: behind})
		if err != nil || len(events) != behind {
			b.Fatal(len(events), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*behind), "ns/event")
}

// BenchmarkCodec measures one event's record: encoding it (checksum
// included), decoding it with its checksum verified, and, for the cost of
// the checksum alone, computing it.
func BenchmarkCodec(b *testing.B) {
	e := herd.Event{Pos: 123456, Time: time.Now(), Topics: []string{"bench"}, Data: `{"price": 42.17, "symbol": "HERD"}`}
	k, v := key(e.Pos), encode(e)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encode(e)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := decode(k, v, false, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checksum", func(b *testing.B) {
		for b.Loop() {
			checksum(k, v)
		}
	})
}
