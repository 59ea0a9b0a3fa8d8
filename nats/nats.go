// Package nats is a herd.Store on NATS JetStream (github.com/nats-io/nats.go),
// for running several hub nodes as one: they share one stream, so event
// order, ids, resume points, closed topics and idempotency keys are the
// same on every node. It needs nats-server 2.9 or newer with JetStream.
//
// For a prefix P it uses:
//
//	stream HERD_P, subject herd.P.log   every event, one message each; the
//	                                    stream sequence is the position
//	KV bucket HERD_P_closed             topic → sequence of its close
//
// Retention is the stream's own (MaxMsgs, MaxAge, discarding the oldest);
// idempotency keys are JetStream's message ids, deduplicated within the
// stream's duplicate window (the idempotency TTL, at most MaxAge). Ids
// carry the stream's creation time, so ids from a stream that was deleted
// and created again are unknown rather than mistaken for new ones.
//
// JetStream cannot refuse a message because an earlier one closed its
// topic, so the log decides: each node reads every message's headers in
// order (closed.go), and a message to a topic closed at an earlier
// position is void. Append answers a void message with
// *herd.TopicClosedError once its node has read up to it, and Read,
// Follow and Stats skip void messages, so no node ever delivers one. The
// first close of each topic is also recorded in the KV bucket before it is
// acknowledged, so that closes outlive the stream's retention.
//
// Durability is JetStream's: a publish is acknowledged once the stream
// has it (configure the server's sync_interval, or sync_always, for what
// "has" means on disk).
package nats

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herd-sse/herd"
)

// Options configure a Store.
type Options struct {
	// Retention and IdempotencyTTL as documented on herd.StoreOptions.
	// StoreOptions.Now is ignored: the server's clock is used.
	herd.StoreOptions
	// Prefix names the stream; nodes sharing a prefix form one hub. Empty
	// means the URL's prefix query parameter, or "herd".
	Prefix string
	// Replicas is how many servers of a JetStream cluster keep the stream
	// and the closed-topics bucket: 1, 3 or 5. Zero means the URL's
	// replicas query parameter, or 1. Every node sharing the stream must
	// give the same number (Open refuses otherwise, unless
	// StoreOptions.ChangeSettings is set).
	Replicas int
	// Logger receives the store's own warnings (a reader retrying after
	// the connection failed). Nil means none.
	Logger *slog.Logger
}

// A Store is a herd.Store on JetStream. Create it with Open.
type Store struct {
	gen     atomic.Pointer[herd.EpochIDs] // the stream's generation (see generation.go)
	nc      *natsgo.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	closed  jetstream.KeyValue
	subject string
	opts    Options
	topics  atomic.Pointer[closedTopics] // replaced when the stream is (see generation.go)
	// retiring counts the replaced closed-topics readers still stopping.
	retiring sync.WaitGroup

	statsMu    sync.Mutex
	statsAt    time.Time
	statsCache []herd.TopicStats
}

var (
	_ herd.Store  = (*Store)(nil)
	_ herd.Pinger = (*Store)(nil)
)

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// connect makes a Store for rawURL and opts, connected to the server.
func connect(rawURL string, opts Options) (*Store, error) {
	loc, err := parseLocation(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.Prefix == "" {
		opts.Prefix = loc.prefix
	}
	if opts.Prefix == "" {
		opts.Prefix = "herd"
	}
	if !validPrefix.MatchString(opts.Prefix) {
		return nil, fmt.Errorf("nats: prefix %q: use letters, digits, _ and - only", opts.Prefix)
	}
	if opts.Replicas == 0 {
		opts.Replicas = loc.replicas
	}
	if r := opts.Replicas; r != 0 && r != 1 && r != 3 && r != 5 {
		return nil, fmt.Errorf("nats: %d replicas: use 1, 3 or 5", r)
	}
	opts.Replicas = max(opts.Replicas, 1)
	opts.StoreOptions = opts.StoreOptions.WithDefaults()
	nc, err := natsgo.Connect(strings.Join(loc.servers, ","),
		natsgo.Name("herd"),
		natsgo.MaxReconnects(-1),                   // keep trying, with backoff and jitter
		natsgo.ReconnectWait(500*time.Millisecond), // between attempts
		natsgo.ReconnectJitter(250*time.Millisecond, time.Second),
		natsgo.ReconnectBufSize(-1), // publishing while disconnected fails at once (503), it is not queued
		natsgo.Timeout(5*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return &Store{nc: nc, subject: "herd." + opts.Prefix + ".log", opts: opts}, nil
}

// Check connects to the NATS server(s) at rawURL as Open would, without
// creating or changing anything, and describes what it finds: JetStream,
// and the hub's stream if there is one yet.
func Check(ctx context.Context, rawURL string, opts Options) (string, error) {
	s, err := connect(rawURL, opts)
	if err != nil {
		return "", err
	}
	defer s.nc.Close()
	js, err := jetstream.New(s.nc, jetstream.WithDefaultTimeout(5*time.Second))
	if err != nil {
		return "", fmt.Errorf("nats: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		return "", fmt.Errorf("nats: JetStream: %w (start nats-server with -js)", err)
	}
	name := "HERD_" + s.opts.Prefix
	server := "nats-server " + s.nc.ConnectedServerVersion()
	stream, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Sprintf("%s with JetStream; no stream %s yet (herd serve creates it)", server, name), nil
	}
	if err != nil {
		return "", fmt.Errorf("nats: stream %s: %w", name, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("nats: stream %s: %w", name, err)
	}
	return fmt.Sprintf("%s with JetStream; stream %s holds %d events (%d to %d); it keeps %s", server, name,
		info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, historyOf(info.Config)), nil
}

// Open connects to the NATS server(s) at rawURL (see ParseURL: one server
// or several of a cluster; a "prefix" query parameter names the stream,
// "replicas" says how many servers keep it), and creates the stream and
// bucket, or updates them to opts.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	s, err := connect(rawURL, opts)
	if err != nil {
		return nil, err
	}
	nc := s.nc
	if err := s.init(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	s.restartTopics()
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	js, err := jetstream.New(s.nc, jetstream.WithDefaultTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	s.js = js
	name := "HERD_" + s.opts.Prefix
	r := s.opts.Retention
	cfg := jetstream.StreamConfig{
		Name:        name,
		Description: "herd hub event log",
		Subjects:    []string{s.subject},
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1,
		AllowDirect: true,
		Replicas:    s.opts.Replicas,
	}
	if r.MaxEvents > 0 {
		cfg.MaxMsgs = int64(r.MaxEvents)
	}
	cfg.Duplicates = s.opts.IdempotencyTTL
	if r.MaxAge > 0 {
		cfg.MaxAge = r.MaxAge
		cfg.Duplicates = min(cfg.Duplicates, r.MaxAge) // JetStream requires it
	}
	if err := s.agree(ctx, cfg); err != nil {
		return err
	}
	if s.opts.Replicas > 1 && s.nc.ConnectedClusterName() == "" {
		// A server outside a cluster records the count asked, and keeps one copy.
		return fmt.Errorf("nats: stream %s: replicas=%d needs a JetStream cluster, and this server is not in one: it would keep one copy (docs/clustering.md)",
			name, s.opts.Replicas)
	}
	s.stream, err = js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", name, err)
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", name, err)
	}
	s.observe(info.Created)
	s.closed, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name + "_closed", History: 1, Storage: jetstream.FileStorage, Replicas: s.opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("nats: closed-topics bucket: %w", err)
	}
	return nil
}

// Message headers; the data is the payload.
const (
	hTopics = "Herd-Topics" // space-separated
	hType   = "Herd-Type-Q" // quoted (strconv.Quote): NATS trims header values
	hTypeV1 = "Herd-Type"   // unquoted, as stored before Herd-Type-Q
	hRetry  = "Herd-Retry"  // milliseconds; "0" is a zero retry (absent: none)
	hFlags  = "Herd-Flags"  // herd.Flags as letters (see headerFlags)
	hTime   = "Herd-Time"   // publish time, Unix nanoseconds (JetStream's own timestamp drives MaxAge)
)

// Append implements herd.Store.
func (s *Store) Append(ctx context.Context, m herd.Message) (herd.Event, bool, error) {
	// The event, placed (Pos, ID) once the stream has stored it.
	e := m.Event(0, "", time.Now().UTC())
	msg := natsgo.NewMsg(s.subject)
	msg.Data = []byte(e.Data)
	msg.Header.Set(hTime, strconv.FormatInt(e.Time.UnixNano(), 10))
	msg.Header.Set(hTopics, strings.Join(e.Topics, " "))
	if e.Type != "" {
		msg.Header.Set(hType, strconv.Quote(e.Type))
	}
	if e.Retry > 0 || e.ZeroRetry {
		msg.Header.Set(hRetry, strconv.FormatInt(e.Retry.Milliseconds(), 10))
	}
	if flags := flagString(e.Flags()); flags != "" {
		msg.Header.Set(hFlags, flags)
	}
	var opts []jetstream.PublishOpt
	if m.IdempotencyKey != "" {
		opts = append(opts, jetstream.WithMsgID(m.IdempotencyKey))
	}
	ack, err := s.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return herd.Event{}, false, s.wrap("publish", err)
	}
	p := herd.Pos(ack.Sequence)
	// Acknowledge only once this node has read up to p: a close of p is
	// then recorded, and a void p is known (for a duplicate too).
	if err := s.topics.Load().wait(ctx, p); err != nil {
		return herd.Event{}, false, err
	}
	if m.IdempotencyKey != "" {
		if p, err = s.topics.Load().locate(m.IdempotencyKey, p); err != nil {
			return herd.Event{}, false, err
		}
		if err := s.topics.Load().wait(ctx, p); err != nil {
			return herd.Event{}, false, err
		}
	}
	if t, void := s.topics.Load().closedBefore(m.Topics, p); void {
		return herd.Event{}, false, &herd.TopicClosedError{Topic: t}
	}
	if ack.Duplicate {
		return herd.Event{Pos: p, ID: s.ID(p)}, true, nil
	}
	e.Pos, e.ID = p, s.ID(p)
	return e, false, nil
}

func closedKey(topic string) string { return base64.RawURLEncoding.EncodeToString([]byte(topic)) }

// event decodes a stream message. Anyone with access to NATS can publish
// to the stream's subject: a message whose headers are not as Append
// writes them is refused as a *herd.DamagedEventError, never served.
func (s *Store) event(msg jetstream.Msg) (herd.Event, error) {
	md, err := msg.Metadata()
	if err != nil {
		return herd.Event{}, s.wrap("message metadata", err)
	}
	p := herd.Pos(md.Sequence.Stream)
	e := herd.Event{Pos: p, ID: s.ID(p), Data: string(msg.Data())}
	if cause := decodeHeaders(&e, msg.Headers()); cause != "" {
		return herd.Event{}, s.damaged(e, cause)
	}
	return e, nil
}

func (s *Store) damaged(e herd.Event, cause string) *herd.DamagedEventError {
	return &herd.DamagedEventError{Pos: e.Pos, ID: e.ID, Topics: e.Topics,
		Cause: fmt.Sprintf("nats: message %d of stream HERD_%s is not one herd wrote: %s", e.Pos, s.opts.Prefix, cause)}
}

// decodeHeaders reads a message's headers into e, and says what is wrong
// with them, if anything: a header of herd's given twice, one missing or
// malformed, or fields that no publish has (see herd.CheckStored).
func decodeHeaders(e *herd.Event, h natsgo.Header) string {
	for _, k := range []string{hTopics, hType, hTypeV1, hRetry, hFlags, hTime} {
		if len(h.Values(k)) > 1 {
			return k + " given twice"
		}
	}
	if h.Get(hTopics) == "" {
		return "no " + hTopics
	}
	e.Topics = strings.Split(h.Get(hTopics), " ")
	ns, err := strconv.ParseInt(h.Get(hTime), 10, 64)
	if err != nil {
		return fmt.Sprintf("%s %.40q is not Unix nanoseconds", hTime, h.Get(hTime))
	}
	e.Time = time.Unix(0, ns).UTC()
	e.Type = h.Get(hTypeV1)
	if q := h.Get(hType); q != "" {
		if e.Type, err = strconv.Unquote(q); err != nil || e.Type == "" || h.Get(hTypeV1) != "" {
			return fmt.Sprintf("%s %.40q is not a quoted type, alone", hType, q)
		}
	}
	var zero herd.Flags // FlagZeroRetry is Herd-Retry "0", not a letter
	if r, ok := h[hRetry]; ok {
		ms, err := strconv.ParseUint(r[0], 10, 64)
		if err != nil || strconv.FormatUint(ms, 10) != r[0] || ms > uint64(herd.MaxRetry.Milliseconds()) {
			return fmt.Sprintf("%s %.40q is not a number of milliseconds", hRetry, r[0])
		}
		e.Retry = time.Duration(ms) * time.Millisecond
		if ms == 0 {
			zero = herd.FlagZeroRetry
		}
	}
	flags, ok := parseFlags(h.Get(hFlags))
	if !ok {
		return fmt.Sprintf("%s %.40q are not herd's", hFlags, h.Get(hFlags))
	}
	e.SetFlags(flags | zero) // known flags only: parseFlags knows no other
	if err := herd.CheckStored(*e); err != nil {
		return err.Error()
	}
	// A headers-only delivery (the closed-topics reader's, Stats') has no
	// data to check, but its size.
	if size := h.Values(natsgo.MsgSize); e.NoData && len(size) > 0 && (len(size) > 1 || size[0] != "0") {
		return "no data, yet data"
	}
	return ""
}

// headerFlags are the flags Herd-Flags carries, as herd.Flags.Letters:
// all but FlagZeroRetry, which Herd-Retry "0" says (as it did before the
// flag existed, so streams already written read the same).
const headerFlags = herd.KnownFlags &^ herd.FlagZeroRetry

// flagString is Herd-Flags for flags.
func flagString(flags herd.Flags) string { return (flags & headerFlags).Letters() }

// parseFlags reads Herd-Flags as flagString writes it and reports whether
// it could.
func parseFlags(s string) (herd.Flags, bool) {
	flags, ok := herd.ParseFlagLetters(s)
	return flags, ok && flags&^headerFlags == 0
}

// state returns the stream's sequence bounds.
func (s *Store) state(ctx context.Context) (jetstream.StreamState, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, s.wrap("stream info", err)
	}
	s.observe(info.Created)
	return info.State, nil
}

// trimmed is the newest sequence retention removed: the stream's
// sequences are contiguous and only the oldest are removed.
func trimmed(st jetstream.StreamState) herd.Pos {
	if st.FirstSeq <= 1 {
		return 0
	}
	return herd.Pos(st.FirstSeq - 1)
}

// Read implements herd.Store, with an ordered consumer from after. Void
// messages are skipped: a read that finds only void ones reads on.
func (s *Store) Read(ctx context.Context, after herd.Pos, lim herd.Limit) ([]herd.Event, bool, error) {
	st, err := s.state(ctx)
	if err != nil {
		return nil, false, err
	}
	gap := after < trimmed(st)
	for {
		events, last, err := s.fetch(ctx, st, after, lim)
		var damaged error // the events before it are returned with it
		if errors.Is(err, herd.ErrDamaged) {
			damaged, err = err, nil
		}
		if err != nil {
			return nil, gap, err
		}
		if last > 0 {
			if events, err = s.dropVoid(ctx, events, last); err != nil {
				return nil, gap, err
			}
		}
		if damaged != nil || len(events) > 0 || last == 0 {
			return events, gap, damaged
		}
		after = last
	}
}

// fetch reads from the stream (in state st) after position after, as far
// as lim allows, and returns the position of the last message read (0 if
// none). At a damaged message it stops, returning the events before it
// and the *herd.DamagedEventError.
func (s *Store) fetch(ctx context.Context, st jetstream.StreamState, after herd.Pos, lim herd.Limit) ([]herd.Event, herd.Pos, error) {
	from := herd.Pos(st.FirstSeq)
	if after >= from {
		from = after + 1
	}
	if st.Msgs == 0 || uint64(from) > st.LastSeq {
		return nil, 0, nil
	}
	want := min(lim.Events, int(st.LastSeq-uint64(from)+1))
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: uint64(from),
	})
	if err != nil {
		return nil, 0, s.wrap("read", err)
	}
	defer s.stream.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name)
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(5 * time.Second)}
	if lim.Bytes > 0 {
		// The server's byte count includes subject and headers; a message
		// is at most its max payload, so the first always fits.
		opts = append(opts, jetstream.FetchMaxBytes(max(lim.Bytes, int(s.nc.MaxPayload()))+headerRoom))
	}
	batch, err := cons.Fetch(want, opts...)
	if err != nil {
		return nil, 0, s.wrap("read", err)
	}
	events := make([]herd.Event, 0, want)
	bytes := 0
	var last herd.Pos
	for msg := range batch.Messages() {
		e, err := s.event(msg)
		if errors.Is(err, herd.ErrDamaged) {
			return events, last, err
		}
		if err != nil {
			return nil, 0, err
		}
		if !lim.Fits(len(events), bytes, len(e.Data)) {
			break
		}
		bytes += len(e.Data)
		events = append(events, e)
		last = e.Pos
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(events) == 0 {
		return nil, 0, s.wrap("read", err)
	}
	return events, last, nil
}

// headerRoom is what a message's subject and headers may add to its data.
const headerRoom = 16 << 10

// MaxEventSize implements herd.EventSizer: the server's largest message
// (max_payload, 1 MiB unless configured), less room for the headers.
func (s *Store) MaxEventSize() int { return int(s.nc.MaxPayload()) - headerRoom }

// dropVoid removes the void events from events, once the closed topics
// are read up to last.
func (s *Store) dropVoid(ctx context.Context, events []herd.Event, last herd.Pos) ([]herd.Event, error) {
	if err := s.topics.Load().wait(ctx, last); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(events, func(e herd.Event) bool {
		_, void := s.topics.Load().closedBefore(e.Topics, e.Pos)
		return void
	}), nil
}

// Follow implements herd.Store with an ordered consumer. Sequences are
// contiguous, so a message that is not the next one means the ones between
// were removed by retention before being delivered: ErrLagged.
func (s *Store) Follow(ctx context.Context, after herd.Pos, fn func([]herd.Event) error) error {
	gen := s.ids()
	st, err := s.state(ctx)
	if err != nil {
		return err
	}
	if s.ids() != gen {
		return s.replaced(gen)
	}
	if after < trimmed(st) {
		return fmt.Errorf("%w: events after %d were removed (the stream starts at %d)", herd.ErrLagged, after, st.FirstSeq)
	}
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: uint64(after) + 1,
		MaxResetAttempts: resetAttempts,
	})
	if err != nil {
		return s.wrap("follow", err)
	}
	defer s.stream.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name)
	// Heartbeats every second, as the closed-topics reader's: a stream
	// leader lost (killed, frozen) is noticed, and the consumer made again
	// on the new one, in about two seconds rather than the client's
	// default of fifteen, during which every subscriber of this node waits.
	it, err := cons.Messages(jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return s.wrap("follow", err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)() // Next ignores ctx while the consumer resets (a deleted stream)
	check := s.generationCheck(gen)
	defer check.stop()
	for {
		msg, err := it.Next(jetstream.NextContext(check.next(ctx)))
		if err := check.done(ctx, err); err != nil {
			return err
		}
		if msg == nil {
			continue
		}
		e, err := s.event(msg)
		if err != nil {
			return err
		}
		if e.Pos != after+1 {
			return fmt.Errorf("%w: expected event %d, the stream went on at %d", herd.ErrLagged, after+1, e.Pos)
		}
		after = e.Pos
		if void, err := s.topics.Load().void(ctx, e); err != nil || void {
			if err != nil {
				return err
			}
			continue
		}
		if err := fn([]herd.Event{e}); err != nil {
			return err
		}
	}
}

// Bounds implements herd.Store.
func (s *Store) Bounds(ctx context.Context) (herd.Bounds, error) {
	st, err := s.state(ctx)
	if err != nil {
		return herd.Bounds{}, err
	}
	b := herd.Bounds{Last: herd.Pos(st.LastSeq), Trimmed: trimmed(st), Generation: string(s.ids())}
	if st.Msgs > 0 {
		b.First = herd.Pos(st.FirstSeq)
	}
	return b, nil
}

// Closed implements herd.Store.
func (s *Store) Closed(ctx context.Context, topics []string) (map[string]herd.Pos, error) {
	out := map[string]herd.Pos{}
	for _, t := range topics {
		e, err := s.closed.Get(ctx, closedKey(t))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, s.wrap("closed", err)
		}
		if _, p, ok := parseClosed(string(e.Value())); ok && p > 0 {
			out[t] = p
		}
	}
	return out, nil
}

// Stats implements herd.Store. JetStream keeps no per-topic counts, so the
// retained stream's headers are scanned; the result is cached for five
// seconds, so that a dashboard polling /topics costs little.
func (s *Store) Stats(ctx context.Context) ([]herd.TopicStats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if time.Since(s.statsAt) < 5*time.Second {
		return s.statsCache, nil
	}
	var c herd.TopicCounter
	st, err := s.state(ctx)
	if err != nil {
		return nil, err
	}
	if st.Msgs > 0 {
		if err := s.topics.Load().wait(ctx, herd.Pos(st.LastSeq)); err != nil { // to tell void messages
			return nil, err
		}
		cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: true})
		if err != nil {
			return nil, s.wrap("stats", err)
		}
		defer s.stream.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name)
		it, err := cons.Messages()
		if err != nil {
			return nil, s.wrap("stats", err)
		}
		defer it.Stop()
		scanCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			msg, err := it.Next(jetstream.NextContext(scanCtx))
			if err != nil {
				return nil, s.wrap("stats", err)
			}
			md, err := msg.Metadata()
			if err != nil {
				return nil, s.wrap("stats", err)
			}
			p := herd.Pos(md.Sequence.Stream)
			// Damaged, void ones and reopen markers are left out.
			if e := (herd.Event{Pos: p, ID: s.ID(p)}); decodeHeaders(&e, msg.Headers()) == "" {
				if _, void := s.topics.Load().closedBefore(e.Topics, p); !void {
					c.Add(e)
				}
			}
			if md.NumPending == 0 || uint64(p) >= st.LastSeq {
				break
			}
		}
	}
	keys, err := s.closed.ListKeys(ctx)
	if err != nil {
		return nil, s.wrap("stats", err)
	}
	for k := range keys.Keys() {
		topic, err := base64.RawURLEncoding.DecodeString(k)
		if err != nil {
			continue
		}
		if e, err := s.closed.Get(ctx, k); err == nil {
			if _, p, ok := parseClosed(string(e.Value())); ok && p > 0 {
				c.Closed(string(topic), p, s.ID(p))
			}
		}
	}
	s.statsCache, s.statsAt = c.Stats(), time.Now()
	return s.statsCache, nil
}

// ID implements herd.Store.
func (s *Store) ID(p herd.Pos) string { return s.ids().ID(p) }

// ParseID implements herd.Store.
func (s *Store) ParseID(id string) (herd.Pos, error) { return s.ids().ParseID(id) }

// Ping implements herd.Pinger: the connection is up and JetStream answers.
func (s *Store) Ping(ctx context.Context) error {
	if !s.nc.IsConnected() {
		return s.wrap("ping", fmt.Errorf("not connected (%s)", s.nc.Status()))
	}
	_, err := s.stream.Info(ctx)
	return s.wrap("ping", err)
}

// Close implements herd.Store.
func (s *Store) Close() error {
	s.nc.Close()
	s.topics.Load().close()
	s.retiring.Wait()
	return nil
}

// wrap names the failing operation, and reports a closed connection as
// herd.ErrStoreClosed.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, natsgo.ErrConnectionClosed) || s.nc.IsClosed() {
		return herd.ErrStoreClosed
	}
	return fmt.Errorf("nats: %s: %w", op, err)
}
