//go:build integration

package nats_test

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/internal/services"
	"github.com/herd-sse/herd/nats"
	"github.com/herd-sse/herd/storetest"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestConformance(t *testing.T) {
	url := services.NATSURL(t)
	var setups sync.Map // store → its options, for its peers
	open := func(t *testing.T, opts nats.Options) herd.Store {
		s, err := nats.Open(t.Context(), url, opts)
		if err != nil {
			t.Fatal(err)
		}
		setups.Store(s, opts)
		return s
	}
	storetest.Run(t, storetest.Config{
		Open: func(t *testing.T, opts storetest.Options) herd.Store {
			return open(t, nats.Options{
				StoreOptions: herd.StoreOptions{Retention: opts.Retention, IdempotencyTTL: opts.IdempotencyTTL},
				Prefix:       services.NATSPrefix(t, url),
			})
		},
		Peer: func(t *testing.T, s herd.Store) herd.Store {
			opts, _ := setups.Load(s)
			peer := open(t, opts.(nats.Options))
			t.Cleanup(func() { peer.Close() })
			return peer
		},
		Wipe: func(t *testing.T, s herd.Store) {
			opts, _ := setups.Load(s)
			wipe(t, url, opts.(nats.Options))
		},
	})
}

// wipe deletes the stream and bucket of a store with opts, as wiping the
// server's JetStream data would, and starts a store on it again (which
// creates them anew, as a node starting on the wiped server would).
func wipe(t *testing.T, url string, opts nats.Options) {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(t.Context(), "HERD_"+opts.Prefix); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(t.Context(), "HERD_"+opts.Prefix+"_closed"); err != nil {
		t.Fatal(err)
	}
	s, err := nats.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestForeignMessages: messages that someone else published to the
// stream's subject, with herd's headers missing, repeated or garbled, are
// refused as damaged (storetest.Foreign): never served, reported, a gap in
// their place. One of them claims to close topic a: it closes nothing.
func TestForeignMessages(t *testing.T) {
	url := services.NATSURL(t)
	prefix := services.NATSPrefix(t, url)
	s, err := nats.Open(t.Context(), url, nats.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	now := strconv.FormatInt(time.Now().UnixNano(), 10)
	messages := []struct {
		data    string
		headers map[string][]string
	}{
		{"no headers at all", nil},
		{"no time", map[string][]string{"Herd-Topics": {"a"}}},
		{"no topics", map[string][]string{"Herd-Time": {now}}},
		{"topics twice", map[string][]string{"Herd-Time": {now}, "Herd-Topics": {"a", "b"}}},
		{"a bad time", map[string][]string{"Herd-Time": {"yesterday"}, "Herd-Topics": {"a"}}},
		{"an empty topic", map[string][]string{"Herd-Time": {now}, "Herd-Topics": {"a  b"}}},
		{"a type not quoted", map[string][]string{"Herd-Time": {now}, "Herd-Topics": {"a"}, "Herd-Type-Q": {"x"}}},
		{"a type with a line end", map[string][]string{"Herd-Time": {now}, "Herd-Topics": {"a"}, "Herd-Type-Q": {`"x\ny"`}}},
		{"retry not a number", map[string][]string{"Herd-Time": {now}, "Herd-Topics": {"a"}, "Herd-Retry": {"soon"}}},
		{"retry padded", map[string][]string{"Herd-Time": {now}, "Herd-Topics": {"a"}, "Herd-Retry": {"010"}}},
		{"flags not herd's", map[string][]string{"Herd-Time": {now}, "Herd-Topics": {"a"}, "Herd-Flags": {"public"}}},
		{"a close with data and no data", map[string][]string{"Herd-Time": {now}, "Herd-Topics": {"a"}, "Herd-Flags": {"cn"}}},
	}
	storetest.Foreign(t, s, len(messages), func(t *testing.T, i int) {
		m := natsgo.NewMsg("herd." + prefix + ".log")
		m.Data = []byte(messages[i].data)
		for k, vs := range messages[i].headers {
			for _, v := range vs {
				m.Header.Add(k, v)
			}
		}
		if _, err := js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	})
	if closed, err := s.Closed(t.Context(), []string{"a"}); err != nil || len(closed) != 0 {
		t.Errorf("a foreign message closed topic a: %v, %v", closed, err)
	}
}

// TestReplicasAgreement: a node whose replica count is not the stream's
// refuses to open it, saying both counts and what to do, and leaves the
// stream as it was; ChangeSettings lets it through.
func TestReplicasAgreement(t *testing.T) {
	url := services.NATSURL(t)
	prefix := services.NATSPrefix(t, url)
	s, err := nats.Open(t.Context(), url, nats.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = nats.Open(t.Context(), url+"?replicas=3", nats.Options{Prefix: prefix})
	var re *nats.ReplicasError
	if !errors.As(err, &re) || re.Recorded != 1 || re.Own != 3 ||
		!strings.Contains(err.Error(), "is kept on 1 replicas but this node has replicas=3") ||
		!strings.Contains(err.Error(), "Give this node replicas=1") {
		t.Fatalf("open with replicas=3 on a stream of 1: %v", err)
	}
	// One server keeps one copy whatever it is asked: refused, not ignored.
	if _, err := nats.Open(t.Context(), url+"?replicas=3", nats.Options{Prefix: prefix,
		StoreOptions: herd.StoreOptions{ChangeSettings: true}}); err == nil ||
		!strings.Contains(err.Error(), "replicas=3 needs a JetStream cluster, and this server is not in one") {
		t.Fatalf("open with replicas=3 and ChangeSettings on one server: %v", err)
	}
	s, err = nats.Open(t.Context(), url+"?replicas=1", nats.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("open with the stream's own count: %v", err)
	}
	s.Close()
}
