package sse_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenEvents are encoded and compared with testdata/encode/NAME.golden.
var goldenEvents = []struct {
	name string
	e    sse.Event
}{
	{"data", sse.Event{Data: "hello"}},
	{"empty-data", sse.Event{Data: ""}},
	{"all-fields", sse.Event{ID: "42", Type: "quote", Data: "<div>moo</div>", Retry: 2500 * time.Millisecond}},
	{"multi-line-lf", sse.Event{Data: "a\nb\nc"}},
	{"multi-line-crlf", sse.Event{Data: "a\r\nb\r\nc"}},
	{"multi-line-cr", sse.Event{Data: "a\rb\rc"}},
	{"trailing-newline", sse.Event{Data: "a\n"}},
	{"blank-lines", sse.Event{Data: "\n\na\n\n"}},
	{"injection-attempt-in-data", sse.Event{Data: "x\revent: evil\ndata: y\r\n\r\nid: 666"}},
	{"leading-space", sse.Event{Data: " indented\n  twice"}},
	{"colon-data", sse.Event{Data: ": not a comment\ndata: nor a field"}},
	{"retry-sub-ms", sse.Event{Data: "r", Retry: 1500 * time.Microsecond}},
	{"retry-zero", sse.Event{Data: "reconnect at once", ZeroRetry: true}},
	{"retry-positive-with-zero-retry", sse.Event{Data: "r", Retry: 250 * time.Millisecond, ZeroRetry: true}},
	{"cowsay", sse.Event{Type: "message", Data: "<pre> _____\n< moo >\n -----\n        \\   ^__^</pre>"}},
}

func TestAppendEvent_golden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenEvents {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sse.AppendEvent(nil, tc.e)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "encode", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoded:\n%q\nwant:\n%q", got, want)
			}
			// Whatever the data, the receiver sees exactly one event.
			var events []sse.Event
			for e, err := range sse.Read(bytes.NewReader(got)) {
				if err != nil {
					t.Fatal(err)
				}
				events = append(events, e)
			}
			if len(events) != 1 {
				t.Fatalf("parsed %d events from %q, want 1", len(events), got)
			}
		})
	}
}

func TestEvent_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		e    sse.Event
		want error
	}{
		{sse.Event{ID: "1", Type: "t", Data: "any\r\n\x00thing"}, nil},
		{sse.Event{ID: "1\n"}, sse.ErrInvalidID},
		{sse.Event{ID: "1\revent: evil"}, sse.ErrInvalidID},
		{sse.Event{ID: "a\x00b"}, sse.ErrInvalidID},
		{sse.Event{Type: "t\ndata: evil"}, sse.ErrInvalidType},
		{sse.Event{Type: "t\r"}, sse.ErrInvalidType},
		{sse.Event{Type: "\x00"}, sse.ErrInvalidType},
		{sse.Event{Retry: -time.Second}, sse.ErrInvalidRetry},
	}
	for _, tc := range tests {
		if err := tc.e.Validate(); err != tc.want {
			t.Errorf("%#v.Validate() = %v, want %v", tc.e, err, tc.want)
		}
		dst := []byte("keep")
		out, err := sse.AppendEvent(dst, tc.e)
		if err != tc.want {
			t.Errorf("AppendEvent(%#v) err = %v, want %v", tc.e, err, tc.want)
		}
		if tc.want != nil && string(out) != "keep" {
			t.Errorf("AppendEvent(%#v) wrote %q on error", tc.e, out)
		}
		if _, err := sse.NewFrame(tc.e); err != tc.want {
			t.Errorf("NewFrame(%#v) err = %v, want %v", tc.e, err, tc.want)
		}
	}
}

func TestAppendComment(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":             ":\n",
		"ping":         ": ping\n",
		"a\nb\r\nc\rd": ": a\n: b\n: c\n: d\n",
	}
	for text, want := range tests {
		if got := string(sse.AppendComment(nil, text)); got != want {
			t.Errorf("AppendComment(%q) = %q, want %q", text, got, want)
		}
	}
	// A multi-line comment never turns into a field.
	var seen []string
	r := sse.NewReader(strings.NewReader(string(sse.AppendComment(nil, "x\ndata: evil\n")) + "\n"))
	r.OnComment = func(s string) { seen = append(seen, s) }
	if _, err := r.Next(); err == nil {
		t.Fatal("comment produced an event")
	}
	if len(seen) != 3 {
		t.Errorf("comments = %q", seen)
	}
}

func TestEncoder(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc := sse.NewEncoder(&buf)
	if err := enc.Encode(sse.Event{ID: "1", Data: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Comment("hb"); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(sse.Event{ID: "bad\n"}); !errors.Is(err, sse.ErrInvalidID) {
		t.Fatalf("err = %v", err)
	}
	if got, want := buf.String(), "id: 1\ndata: a\n\n: hb\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

func TestEncoder_noAllocs(t *testing.T) {
	enc := sse.NewEncoder(discard{})
	e := sse.Event{ID: "12345", Type: "update", Data: "line one\nline two", Retry: time.Second}
	if n := testing.AllocsPerRun(100, func() { _ = enc.Encode(e) }); n != 0 {
		t.Errorf("Encode allocates %v times per event, want 0", n)
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf, _ = sse.AppendEvent(buf[:0], e) }); n != 0 {
		t.Errorf("AppendEvent allocates %v times per event, want 0", n)
	}
}

// discard is io.Discard without its escape-analysis special cases.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestFrame(t *testing.T) {
	t.Parallel()
	f, err := sse.NewFrame(sse.Event{ID: "7", Data: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != "id: 7\ndata: x\n\n" || f.Len() != len(f.String()) {
		t.Errorf("frame = %q (len %d)", f, f.Len())
	}
	var buf bytes.Buffer
	if n, err := f.WriteTo(&buf); err != nil || n != int64(f.Len()) || buf.String() != f.String() {
		t.Errorf("WriteTo = %d, %v; %q", n, err, buf.String())
	}
	if got := string(f.AppendTo([]byte("> "))); got != "> "+f.String() {
		t.Errorf("AppendTo = %q", got)
	}
	if got := sse.CommentFrame("hi").String(); got != ": hi\n" {
		t.Errorf("CommentFrame = %q", got)
	}
	if (sse.Frame{}).Len() != 0 {
		t.Error("zero Frame not empty")
	}
}
