package sse_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/herd-sse/herd/sse"
)

// The benchmarks come in pairs: ours and a naive baseline measured in the
// same run, so results read as ratios (see BENCHMARKS.md).

var smallEvent = sse.Event{ID: "1732812345678-0", Type: "update", Data: `{"user":"ada","action":"login","ok":true}`}

// BenchmarkEncode_small measures the encoder on a small event.
func BenchmarkEncode_small(b *testing.B) {
	enc := sse.NewEncoder(io.Discard)
	b.SetBytes(int64(len(mustFrame(smallEvent).String())))
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(smallEvent); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode_small_naiveFprintf is the baseline: what most SSE code
// writes, fmt.Fprintf per field with the data split on LF only.
func BenchmarkEncode_small_naiveFprintf(b *testing.B) {
	w := io.Discard
	b.SetBytes(int64(len(mustFrame(smallEvent).String())))
	b.ReportAllocs()
	for b.Loop() {
		naiveEncode(w, smallEvent)
	}
}

func naiveEncode(w io.Writer, e sse.Event) {
	if e.Type != "" {
		fmt.Fprintf(w, "event: %s\n", e.Type)
	}
	if e.ID != "" {
		fmt.Fprintf(w, "id: %s\n", e.ID)
	}
	for _, line := range strings.Split(e.Data, "\n") {
		fmt.Fprintf(w, "data: %s\n", line)
	}
	fmt.Fprint(w, "\n")
}

var largeEvent = sse.Event{ID: "9", Data: strings.Repeat("0123456789abcdef", 64<<10/16)}

func BenchmarkEncode_large(b *testing.B) {
	enc := sse.NewEncoder(io.Discard)
	b.SetBytes(int64(len(largeEvent.Data)))
	b.ReportAllocs()
	for b.Loop() {
		_ = enc.Encode(largeEvent)
	}
}

func BenchmarkEncode_large_naiveFprintf(b *testing.B) {
	b.SetBytes(int64(len(largeEvent.Data)))
	b.ReportAllocs()
	for b.Loop() {
		naiveEncode(io.Discard, largeEvent)
	}
}

func mustFrame(e sse.Event) sse.Frame {
	f, err := sse.NewFrame(e)
	if err != nil {
		panic(err)
	}
	return f
}

// streamOf returns n copies of e's wire form.
func streamOf(e sse.Event, n int) []byte {
	return bytes.Repeat([]byte(mustFrame(e).String()), n)
}

func benchParse(b *testing.B, in []byte, parse func(io.Reader) int) {
	want := parse(bytes.NewReader(in))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	r := bytes.NewReader(in)
	for b.Loop() {
		r.Reset(in)
		if n := parse(r); n != want {
			b.Fatalf("parsed %d events, then %d", want, n)
		}
	}
}

func parseOurs(r io.Reader) int {
	n := 0
	for _, err := range sse.Read(r) {
		if err != nil {
			panic(err)
		}
		n++
	}
	return n
}

// parseScanner is the baseline: bufio.Scanner over lines, LF only, with its
// buffer raised so that large lines fit at all.
func parseScanner(r io.Reader) int {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 8<<20)
	n := 0
	var data []byte
	for s.Scan() {
		line := s.Bytes()
		if len(line) == 0 {
			if len(data) > 0 {
				_ = string(data)
				n++
				data = data[:0]
			}
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			data = append(data, v...)
			data = append(data, '\n')
		}
	}
	return n
}

func BenchmarkParse_small(b *testing.B) {
	benchParse(b, streamOf(smallEvent, 5000), parseOurs)
}

func BenchmarkParse_small_bufioScanner(b *testing.B) {
	benchParse(b, streamOf(smallEvent, 5000), parseScanner)
}

var hugeLine = sse.Event{Data: strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1<<20/45)}

func BenchmarkParse_largeLines(b *testing.B) {
	benchParse(b, streamOf(hugeLine, 16), parseOurs)
}

func BenchmarkParse_largeLines_bufioScanner(b *testing.B) {
	benchParse(b, streamOf(hugeLine, 16), parseScanner)
}
