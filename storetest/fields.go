package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herd-sse/herd"
)

// testRoundTrip checks that every field of every message the hub accepts
// comes back byte for byte, from Append, Read and Follow alike: the
// stores must be interchangeable.
func testRoundTrip(t *testing.T, c Config) {
	s := open(t, c, Options{})
	maxData := 1 << 20
	if sized, ok := s.(herd.EventSizer); ok {
		maxData = sized.MaxEventSize()
	}
	many := make([]string, 32)
	for i := range many {
		many[i] = fmt.Sprintf("many/%02d", i)
	}
	msgs := []herd.Message{
		{Topics: []string{"t"}, Type: " padded type ", Data: " padded data "},
		{Topics: []string{"t"}, Type: "\ttabs\t", Data: "\t"},
		{Topics: []string{"t"}, Type: "ünïcödé ✓ 💥", Data: "ünïcödé ✓ 💥"},
		{Topics: []string{"t"}, Type: `quo"te \back\slash %41 :colon`, Data: `"quoted" \n not a newline`},
		{Topics: []string{"t"}, Type: strings.Repeat("y", 256), Data: "longest type"},
		{Topics: []string{"t"}, Data: "\r\n"},
		{Topics: []string{"t"}, Data: "a\rb\nc\r\nd\n\n"},
		{Topics: []string{"t"}, Data: "\x00nul\x00"},
		{Topics: []string{"t"}, Data: "\xff\xfe not UTF-8"},
		{Topics: []string{"t"}, Data: ""},
		{Topics: []string{"t"}, Data: "x", Retry: time.Millisecond},
		{Topics: []string{"t"}, Data: "retry 0: reconnect at once", ZeroRetry: true},
		{Topics: []string{"t"}, Data: "retry unset"},
		{Topics: []string{"t"}, Data: "x", Retry: (1<<31 - 1) * time.Millisecond},
		{Topics: []string{"ünï/cödé", "a.b-c_d:e@f~g", strings.Repeat("z", herd.MaxTopicLength)}, Data: "odd topics"},
		{Topics: many, Data: "32 topics, in this order"},
		{Topics: []string{"p"}, Type: "secret", Data: "private", Private: true},
		{Topics: []string{"big"}, Data: strings.Repeat("é", maxData/2)},
		{Topics: []string{"c1"}, Data: "closing", Close: true},
		{Topics: []string{"c2", "c3"}, NoData: true, Close: true, Private: true},
	}
	var stored []herd.Event
	for _, m := range msgs {
		e := appendMsg(t, s, m)
		if !sameMessage(e, m) {
			t.Errorf("Append(%s) returned %s", describe(m), describe(eventMessage(e)))
		}
		stored = append(stored, e)
	}
	compare := func(how string, got []herd.Event) {
		t.Helper()
		if len(got) != len(stored) {
			t.Fatalf("%s: %d events, want %d", how, len(got), len(stored))
		}
		for i := range got {
			if !sameEvent(got[i], stored[i]) {
				t.Errorf("%s: %s\nread back as %s", how, describe(eventMessage(stored[i])), describe(eventMessage(got[i])))
			}
		}
	}
	compare("Read", readAll(t, s, 0))
	compare("Follow", followUntil(t, s, stored[len(stored)-1].Pos))
	if c.Peer != nil {
		compare("Read on another node", readAll(t, c.Peer(t, s), 0))
	}
}

func sameMessage(e herd.Event, m herd.Message) bool {
	return slices.Equal(e.Topics, m.Topics) && e.Type == m.Type && e.Data == m.Data && e.Retry == m.Retry &&
		e.ZeroRetry == m.ZeroRetry && e.NoData == m.NoData && e.Close == m.Close && e.Private == m.Private
}

func eventMessage(e herd.Event) herd.Message {
	return herd.Message{Topics: e.Topics, Type: e.Type, Data: e.Data, Retry: e.Retry, ZeroRetry: e.ZeroRetry, NoData: e.NoData, Close: e.Close, Private: e.Private}
}

// describe shows a message with long data cut short.
func describe(m herd.Message) string {
	if len(m.Data) > 64 {
		m.Data = fmt.Sprintf("%s… (%d bytes)", m.Data[:32], len(m.Data))
	}
	return fmt.Sprintf("{Topics:%q Type:%+q Data:%+q Retry:%v ZeroRetry:%v NoData:%v Close:%v Private:%v}",
		m.Topics, m.Type, m.Data, m.Retry, m.ZeroRetry, m.NoData, m.Close, m.Private)
}

func testReadLimit(t *testing.T, c Config) {
	s := open(t, c, Options{})
	sizes := []int{10, 300, 5000, 20, 20, 70000, 1}
	var events []herd.Event
	for i, n := range sizes {
		events = append(events, appendMsg(t, s, data("a", strings.Repeat(string(rune('a'+i)), n))))
	}
	for _, tc := range []struct {
		after int // index of the event to read after; -1 for the start
		lim   herd.Limit
		want  []int // indexes of the events read
	}{
		{-1, herd.Limit{Events: 100, Bytes: 1000}, []int{0, 1}},
		{1, herd.Limit{Events: 100, Bytes: 1000}, []int{2}}, // at least one, however large
		{2, herd.Limit{Events: 100, Bytes: 1000}, []int{3, 4}},
		{4, herd.Limit{Events: 2}, []int{5, 6}},
		{-1, herd.Limit{Events: 3}, []int{0, 1, 2}},
		{-1, herd.Limit{Events: 100, Bytes: 5310}, []int{0, 1, 2}},
		{5, herd.Limit{Events: 1, Bytes: 1}, []int{6}},
	} {
		after := herd.Pos(0)
		if tc.after >= 0 {
			after = events[tc.after].Pos
		}
		got, _, err := s.Read(ctx(t), after, tc.lim)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, e := range got {
			idx = append(idx, slices.IndexFunc(events, func(x herd.Event) bool { return x.Pos == e.Pos }))
		}
		if !slices.Equal(idx, tc.want) {
			t.Errorf("Read(after #%d, %+v) = events %v, want %v", tc.after, tc.lim, idx, tc.want)
		}
	}
}
