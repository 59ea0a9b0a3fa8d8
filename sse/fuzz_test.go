package sse_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/herd-sse/herd/sse"
)

// FuzzReader checks that the parser never panics and that how the input is
// split into reads never changes what it parses.
func FuzzReader(f *testing.F) {
	for _, tc := range parseCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in), uint64(1))
		}
	}
	f.Add([]byte("\xEF\xBB"), uint64(2))
	f.Add([]byte("data: a\r"), uint64(3))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		whole, wholeErr := parseAll(bytes.NewReader(in), 1<<16)
		split, splitErr := parseAll(&chunkReader{s: string(in), rnd: rand.New(rand.NewPCG(seed, 7))}, 1<<16)
		bytewise, byteErr := parseAll(iotest.OneByteReader(bytes.NewReader(in)), 1<<16)
		if (wholeErr == nil) != (splitErr == nil) || (wholeErr == nil) != (byteErr == nil) {
			t.Fatalf("errors differ: whole %v, split %v, byte %v", wholeErr, splitErr, byteErr)
		}
		if !slices.Equal(whole, split) || !slices.Equal(whole, bytewise) {
			t.Fatalf("split changes the result:\nwhole %s\nsplit %s\nbyte  %s", describe(whole), describe(split), describe(bytewise))
		}
		for _, e := range whole {
			if !utf8.ValidString(e.Data) || !utf8.ValidString(e.ID) || !utf8.ValidString(e.Type) {
				t.Fatalf("invalid UTF-8 escaped the parser: %#v", e)
			}
			if strings.ContainsAny(e.ID, "\r\n\x00") || strings.ContainsAny(e.Type, "\r\n") || strings.Contains(e.Data, "\r") {
				t.Fatalf("line end or NUL inside a field: %#v", e)
			}
		}
	})
}

func parseAll(r io.Reader, limit int) ([]sse.Event, error) {
	rd := sse.NewReader(r)
	rd.MaxEventSize = limit
	var out []sse.Event
	for e, err := range rd.Events() {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// FuzzRoundTrip checks that parsing what the encoder wrote gives back the
// event, for every valid event: data with its line ends as LF and invalid
// UTF-8 replaced, exactly as a browser would see it.
func FuzzRoundTrip(f *testing.F) {
	for _, g := range goldenEvents {
		f.Add(g.e.ID, g.e.Type, g.e.Data, int64(g.e.Retry/time.Millisecond), g.e.ZeroRetry)
	}
	f.Add("", "", "\r\n\r", int64(0), false)
	f.Add("id", "t", "\xff\xfe", int64(5), false)
	f.Add("", "", "now", int64(0), true)
	f.Add("", "", "positive wins", int64(7), true)
	f.Fuzz(func(t *testing.T, id, typ, data string, retryMS int64, zeroRetry bool) {
		e := sse.Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retryMS) * time.Millisecond, ZeroRetry: zeroRetry}
		wire, err := sse.AppendEvent(nil, e)
		if e.Validate() != nil {
			if err == nil {
				t.Fatalf("invalid event %#v encoded", e)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid event %#v: %v", e, err)
		}
		// Precede it with an event setting another id, so an empty ID must
		// parse as the inherited one.
		prefix := "id: prev\ndata: p\n\n"
		events, err := parseAll(strings.NewReader(prefix+string(wire)), -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 {
			t.Fatalf("%q parsed into %d events, want 2", wire, len(events))
		}
		got := events[1]
		want := sse.Event{
			ID:    asReceived(e.ID),
			Type:  asReceived(e.Type),
			Data:  asReceived(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(e.Data)),
			Retry: e.Retry.Truncate(time.Millisecond),
		}
		if e.ID == "" {
			want.ID = "prev"
		}
		if e.Retry > 0 && e.Retry < time.Millisecond {
			want.Retry = 0
		}
		// "retry: 0" is sent for ZeroRetry and for a positive Retry below a
		// millisecond alike; a positive Retry says it all by itself.
		want.ZeroRetry = want.Retry == 0 && (e.ZeroRetry || e.Retry > 0)
		if got != want {
			t.Fatalf("round trip of %#v:\nwire %q\ngot  %#v\nwant %#v", e, wire, got, want)
		}
	})
}

// asReceived is s as a receiver decodes it: invalid UTF-8 replaced.
func asReceived(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		out, _ := parseAll(strings.NewReader("data: "+line+"\n\n"), -1)
		lines[i] = out[0].Data
	}
	return strings.Join(lines, "\n")
}
