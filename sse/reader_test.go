package sse_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/herd-sse/herd/sse"
)

type parseCase struct {
	name   string
	in     string
	want   []sse.Event
	lastID string        // last event ID after the whole stream
	retry  time.Duration // reconnection time after the whole stream
}

// parseCases are written from the WHATWG HTML standard §9.2.6 and from the
// vectors in research/golibs.md [E1]; each comment names the rule.
var parseCases = []parseCase{
	{name: "basic", in: "data: hello\n\n", want: []sse.Event{{Data: "hello"}}},
	{name: "two events", in: "data: a\n\ndata: b\n\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},
	{name: "multi-line data joined with LF", in: "data: a\ndata: b\ndata: c\n\n", want: []sse.Event{{Data: "a\nb\nc"}}},
	{name: "CRLF line ends", in: "data: a\r\ndata: b\r\n\r\n", want: []sse.Event{{Data: "a\nb"}}},
	{name: "CR line ends", in: "data: a\rdata: b\r\r", want: []sse.Event{{Data: "a\nb"}}},
	{name: "mixed line ends", in: "data: a\rdata: b\ndata: c\r\n\n", want: []sse.Event{{Data: "a\nb\nc"}}},
	{name: "LF then CR is a blank line", in: "data: a\n\rdata: b\n\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},
	{name: "CR CR LF is two line ends", in: "data: a\r\r\ndata: b\n\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},
	{name: "BOM skipped", in: "\xEF\xBB\xBFdata: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "only the first BOM is skipped", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n",
		// the second BOM makes the first field name "\uFEFFdata", an unknown field
		want: []sse.Event{{Data: "b"}}},
	{name: "BOM later in the stream is data", in: "data: \xEF\xBB\xBFa\n\n", want: []sse.Event{{Data: "\uFEFFa"}}},
	{name: "no space after colon", in: "data:a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "only one space stripped", in: "data:  a\n\n", want: []sse.Event{{Data: " a"}}},
	{name: "tab is not stripped", in: "data:\ta\n\n", want: []sse.Event{{Data: "\ta"}}},
	{name: "field without colon is empty value", in: "data\n\n", want: []sse.Event{{Data: ""}}},
	{name: "two colon-less data lines", in: "data\ndata\n\n", want: []sse.Event{{Data: "\n"}}},
	{name: "empty data line dispatches", in: "data:\n\n", want: []sse.Event{{Data: ""}}},
	{name: "trailing empty data line keeps LF", in: "data: a\ndata:\n\n", want: []sse.Event{{Data: "a\n"}}},
	{name: "colon in value kept", in: "data: a: b\n\n", want: []sse.Event{{Data: "a: b"}}},
	{name: "field names are case-sensitive", in: "Data: a\n\ndata: b\n\n", want: []sse.Event{{Data: "b"}}},
	{name: "comment ignored", in: ": hi\ndata: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "comment only block dispatches nothing", in: ":\n\n", want: nil},
	{name: "unknown field ignored", in: "color: blue\ndata: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "event type", in: "event: add\ndata: a\n\n", want: []sse.Event{{Type: "add", Data: "a"}}},
	{name: "event type resets after dispatch", in: "event: add\ndata: a\n\ndata: b\n\n",
		want: []sse.Event{{Type: "add", Data: "a"}, {Data: "b"}}},
	{name: "event type resets at data-less blank line", in: "event: add\n\ndata: b\n\n", want: []sse.Event{{Data: "b"}}},
	{name: "event without data not dispatched", in: "event: foo\n\n", want: nil},
	{name: "last event type wins", in: "event: a\nevent: b\ndata: x\n\n", want: []sse.Event{{Type: "b", Data: "x"}}},
	{name: "id", in: "id: 1\ndata: a\n\n", want: []sse.Event{{ID: "1", Data: "a"}}, lastID: "1"},
	{name: "id persists", in: "id: 1\ndata: a\n\ndata: b\n\n",
		want: []sse.Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}}, lastID: "1"},
	{name: "empty id resets", in: "id: 1\ndata: a\n\nid\ndata: b\n\n",
		want: []sse.Event{{ID: "1", Data: "a"}, {Data: "b"}}, lastID: ""},
	{name: "id with NUL ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
		want: []sse.Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}}, lastID: "1"},
	{name: "id-only block commits the id", in: "id: 7\n\n", want: nil, lastID: "7"},
	{name: "id-only block then event", in: "id: 7\n\ndata: a\n\n", want: []sse.Event{{ID: "7", Data: "a"}}, lastID: "7"},
	{name: "id after data in block applies", in: "data: a\nid: 5\n\n", want: []sse.Event{{ID: "5", Data: "a"}}, lastID: "5"},
	{name: "id in unterminated block not committed", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n",
		want: []sse.Event{{ID: "1", Data: "a"}}, lastID: "1"},
	{name: "retry", in: "retry: 1500\ndata: a\n\n", want: []sse.Event{{Data: "a", Retry: 1500 * time.Millisecond}}, retry: 1500 * time.Millisecond},
	{name: "retry-only block dispatches nothing", in: "retry: 10\n\n", want: nil, retry: 10 * time.Millisecond},
	{name: "retry with non-digit ignored", in: "retry: 10\n\nretry: 1x\n\nretry: -5\n\nretry:  7\n\n", want: nil, retry: 10 * time.Millisecond},
	{name: "empty retry ignored", in: "retry: 10\n\nretry:\n\n", want: nil, retry: 10 * time.Millisecond},
	{name: "overflowing retry ignored", in: "retry: 10\n\nretry: 99999999999999999999999\n\n", want: nil, retry: 10 * time.Millisecond},
	{name: "retry zero is a value", in: "retry: 10\n\nretry: 0\ndata: a\n\ndata: b\n\n",
		want: []sse.Event{{Data: "a", ZeroRetry: true}, {Data: "b"}}, retry: 0},
	{name: "the last retry of a block counts", in: "retry: 0\nretry: 5\ndata: a\n\nretry: 5\nretry: 0\ndata: b\n\n",
		want: []sse.Event{{Data: "a", Retry: 5 * time.Millisecond}, {Data: "b", ZeroRetry: true}}, retry: 0},
	{name: "retry does not touch id", in: "id: 3\nretry: 50\ndata: a\n\n",
		want: []sse.Event{{ID: "3", Data: "a", Retry: 50 * time.Millisecond}}, lastID: "3", retry: 50 * time.Millisecond},
	{name: "NUL allowed in data", in: "data: a\x00b\n\n", want: []sse.Event{{Data: "a\x00b"}}},
	{name: "invalid UTF-8 becomes U+FFFD", in: "data: a\xFFb\n\n", want: []sse.Event{{Data: "a\uFFFDb"}}},
	{name: "truncated sequence is one U+FFFD", in: "data: a\xE2\x82b\n\n", want: []sse.Event{{Data: "a\uFFFDb"}}},
	{name: "surrogate bytes are three U+FFFD", in: "data: \xED\xA0\x80\n\n", want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFD"}}},
	{name: "multi-byte characters", in: "data: €豆腐\n\n", want: []sse.Event{{Data: "€豆腐"}}},
	{name: "partial event at EOF discarded", in: "data: a\n\ndata: b\n", want: []sse.Event{{Data: "a"}}},
	{name: "unterminated last line discarded", in: "data: a\n\ndata: b", want: []sse.Event{{Data: "a"}}},
	{name: "CR at end of stream ends a line", in: "data: a\r\r", want: []sse.Event{{Data: "a"}}},
	{name: "empty stream", in: "", want: nil},
	{name: "blank lines only", in: "\n\n\r\n\r", want: nil},
	{name: "large event", in: "data: " + strings.Repeat("x", 200<<10) + "\n\n", want: []sse.Event{{Data: strings.Repeat("x", 200<<10)}}},
	{name: "many events", in: strings.Repeat("data: m\n\n", 1000), want: repeatEvent(sse.Event{Data: "m"}, 1000)},
}

func repeatEvent(e sse.Event, n int) []sse.Event {
	out := make([]sse.Event, n)
	for i := range out {
		out[i] = e
	}
	return out
}

// chunkReader returns its input in chunks whose sizes come from rnd.
type chunkReader struct {
	s   string
	rnd *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := min(1+c.rnd.IntN(8), len(c.s), len(p))
	if c.rnd.IntN(4) == 0 {
		n = min(1+c.rnd.IntN(len(c.s)), len(p))
	}
	copy(p, c.s[:n])
	c.s = c.s[n:]
	return n, nil
}

func feeds(in string) map[string]func() io.Reader {
	m := map[string]func() io.Reader{
		"whole":       func() io.Reader { return strings.NewReader(in) },
		"byte":        func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"half":        func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
		"data+EOF":    func() io.Reader { return iotest.DataErrReader(strings.NewReader(in)) },
		"timeout-ish": func() io.Reader { return iotest.OneByteReader(iotest.DataErrReader(strings.NewReader(in))) },
	}
	for seed := range uint64(5) {
		m[fmt.Sprintf("random%d", seed)] = func() io.Reader {
			return &chunkReader{s: in, rnd: rand.New(rand.NewPCG(seed, 42))}
		}
	}
	return m
}

func TestReader_spec(t *testing.T) {
	t.Parallel()
	for _, tc := range parseCases {
		for feed, newReader := range feeds(tc.in) {
			t.Run(tc.name+"/"+feed, func(t *testing.T) {
				r := sse.NewReader(newReader())
				var got []sse.Event
				for {
					e, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("Next: %v", err)
					}
					got = append(got, e)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("events = %s\nwant %s", describe(got), describe(tc.want))
				}
				if got, want := r.LastEventID(), tc.lastID; got != want {
					t.Errorf("LastEventID() = %q, want %q", got, want)
				}
				if got, want := r.Retry(), tc.retry; got != want {
					t.Errorf("Retry() = %v, want %v", got, want)
				}
			})
		}
	}
}

func describe(es []sse.Event) string {
	if len(es) > 5 {
		return fmt.Sprintf("%d events, first %#v", len(es), es[0])
	}
	return fmt.Sprintf("%#v", es)
}

func TestReader_comments(t *testing.T) {
	t.Parallel()
	in := ":Hello\n: World\ndata: x\n:\n\n:after\n"
	for feed, newReader := range feeds(in) {
		t.Run(feed, func(t *testing.T) {
			r := sse.NewReader(newReader())
			var log []string
			r.OnComment = func(text string) { log = append(log, "comment "+text) }
			for e, err := range r.Events() {
				if err != nil {
					t.Fatal(err)
				}
				log = append(log, "event "+e.Data)
			}
			want := []string{"comment Hello", "comment  World", "comment ", "event x", "comment after"}
			if fmt.Sprint(log) != fmt.Sprint(want) {
				t.Errorf("got %q, want %q", log, want)
			}
		})
	}
}

func TestReader_maxEventSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		max  int
		ok   int // events before the error
	}{
		{"one long line", "data: " + strings.Repeat("x", 100) + "\n\n", 64, 0},
		{"many data lines", strings.Repeat("data: xxxxxxxxxx\n", 10) + "\n", 64, 0},
		{"line without end", "data: ok\n\n" + strings.Repeat("x", 1000), 64, 1},
		{"long comment", ":" + strings.Repeat("x", 1000) + "\n", 64, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sse.NewReader(iotest.HalfReader(strings.NewReader(tc.in)))
			r.MaxEventSize = tc.max
			n := 0
			var err error
			for _, err = range r.Events() {
				if err != nil {
					break
				}
				n++
			}
			if !errors.Is(err, sse.ErrEventTooLarge) {
				t.Fatalf("err = %v, want ErrEventTooLarge", err)
			}
			var se *sse.EventSizeError
			if !errors.As(err, &se) || se.Limit != tc.max {
				t.Errorf("err = %#v, want *EventSizeError{Limit: %d}", err, tc.max)
			}
			if n != tc.ok {
				t.Errorf("%d events before the error, want %d", n, tc.ok)
			}
		})
	}
}

func TestReader_noLimit(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("y", 3<<20)
	r := sse.NewReader(strings.NewReader("data: " + big + "\n\n"))
	r.MaxEventSize = -1
	e, err := r.Next()
	if err != nil || e.Data != big {
		t.Fatalf("Next = %d bytes, %v; want %d bytes", len(e.Data), err, len(big))
	}
}

func TestReader_readError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := sse.NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	e, err := r.Next()
	if err != nil || e.Data != "a" {
		t.Fatalf("first Next = %+v, %v", e, err)
	}
	if _, err := r.Next(); err != boom {
		t.Fatalf("second Next err = %v, want %v", err, boom)
	}
	if _, err := r.Next(); err != boom {
		t.Fatalf("third Next err = %v, want the same sticky error", err)
	}
}

func TestReader_noProgress(t *testing.T) {
	t.Parallel()
	r := sse.NewReader(zeroReader{})
	if _, err := r.Next(); err != io.ErrNoProgress {
		t.Fatalf("err = %v, want io.ErrNoProgress", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReader_SetLastEventID(t *testing.T) {
	t.Parallel()
	r := sse.NewReader(strings.NewReader("data: a\n\n"))
	r.SetLastEventID("41")
	e, err := r.Next()
	if err != nil || e.ID != "41" {
		t.Fatalf("Next = %+v, %v; want ID 41 carried over", e, err)
	}
}

func TestRead_stopEarly(t *testing.T) {
	t.Parallel()
	n := 0
	for range sse.Read(strings.NewReader(strings.Repeat("data: x\n\n", 10))) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("n = %d", n)
	}
}
