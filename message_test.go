package herd

import (
	"reflect"
	"testing"
	"time"
)

// Message.Event carries every field a message and an event share: a field
// added to both and forgotten in the conversion fails here.
func TestMessageEvent_everyField(t *testing.T) {
	mt, et := reflect.TypeFor[Message](), reflect.TypeFor[Event]()
	for i := range mt.NumField() {
		f := mt.Field(i)
		if f.Name == "IdempotencyKey" {
			continue // the publish's, not the event's
		}
		ef, ok := et.FieldByName(f.Name)
		if !ok || ef.Type != f.Type {
			t.Errorf("Message.%s (%s) has no Event field of its name and type", f.Name, f.Type)
			continue
		}
		var m Message
		v := reflect.ValueOf(&m).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.Bool:
			v.SetBool(true)
		case reflect.String:
			v.SetString("x")
		case reflect.Int64: // a duration: whole milliseconds survive as they are
			v.SetInt(int64(7 * time.Millisecond))
		case reflect.Slice:
			v.Set(reflect.ValueOf([]string{"a", "b"}))
		default:
			t.Fatalf("Message.%s: a %s; teach this test to set one", f.Name, f.Type)
		}
		e := m.Event(3, "id-3", time.Unix(1, 0))
		if got := reflect.ValueOf(e).FieldByName(f.Name); !reflect.DeepEqual(got.Interface(), v.Interface()) {
			t.Errorf("Message{%s: %v}.Event has %s %v", f.Name, v, f.Name, got)
		}
		if e.Pos != 3 || e.ID != "id-3" || !e.Time.Equal(time.Unix(1, 0)) {
			t.Errorf("Event(3, id-3, 1s) placed the event at %d, %q, %v", e.Pos, e.ID, e.Time)
		}
	}
}

// The retry is kept as the wire carries it: whole milliseconds, a positive
// retry under one sent as "retry: 0".
func TestMessageEvent_retry(t *testing.T) {
	for _, tc := range []struct {
		retry time.Duration
		zero  bool
		want  time.Duration
		wantZ bool
	}{
		{0, false, 0, false},
		{0, true, 0, true},
		{1500 * time.Microsecond, false, time.Millisecond, false},
		{500 * time.Microsecond, false, 0, true},
		{time.Nanosecond, false, 0, true},
		{5 * time.Millisecond, true, 5 * time.Millisecond, false},
		{MaxRetry, false, MaxRetry, false},
	} {
		e := Message{Topics: []string{"t"}, Retry: tc.retry, ZeroRetry: tc.zero}.Event(1, "1", time.Time{})
		if e.Retry != tc.want || e.ZeroRetry != tc.wantZ {
			t.Errorf("Retry %v, ZeroRetry %v: stored as %v, %v; want %v, %v", tc.retry, tc.zero, e.Retry, e.ZeroRetry, tc.want, tc.wantZ)
		}
	}
}

// The event keeps its own topics: the publisher may reuse its slice.
func TestMessageEvent_topicsCopied(t *testing.T) {
	topics := []string{"a"}
	e := Message{Topics: topics}.Event(1, "1", time.Time{})
	topics[0] = "changed"
	if e.Topics[0] != "a" {
		t.Errorf("the event's topics changed with the message's: %q", e.Topics)
	}
}

// Each flag is one boolean of Event, and every boolean of Event is a flag:
// a boolean added to events without a flag fails here, so no store's codec
// can forget it.
func TestFlags(t *testing.T) {
	set := map[string]Flags{}
	for f := Flags(1); f != 0; f <<= 1 {
		var e Event
		err := e.SetFlags(f)
		if f&KnownFlags == 0 {
			if err == nil || e.Flags() != 0 {
				t.Errorf("SetFlags(%#x), not a known flag: %v, %+v", f, err, e)
			}
			continue
		}
		if err != nil {
			t.Fatalf("SetFlags(%#x): %v", f, err)
		}
		if got := e.Flags(); got != f {
			t.Errorf("SetFlags(%#x).Flags() = %#x", f, got)
		}
		ev := reflect.ValueOf(e)
		var fields []string
		for i := range ev.NumField() {
			if ev.Field(i).Kind() == reflect.Bool && ev.Field(i).Bool() {
				fields = append(fields, ev.Type().Field(i).Name)
			}
		}
		if len(fields) != 1 {
			t.Fatalf("flag %#x sets %v, want one field", f, fields)
		}
		set[fields[0]] = f
	}
	et := reflect.TypeFor[Event]()
	for i := range et.NumField() {
		if f := et.Field(i); f.Type.Kind() == reflect.Bool && set[f.Name] == 0 {
			t.Errorf("Event.%s has no flag: add one to Flags, Event.Flags and Event.SetFlags", f.Name)
		}
	}
	var e Event
	if e.SetFlags(KnownFlags) != nil || e.Flags() != KnownFlags {
		t.Errorf("SetFlags(KnownFlags).Flags() = %#x", e.Flags())
	}
	if e.SetFlags(KnownFlags+1) == nil || e.Flags() != KnownFlags {
		t.Errorf("SetFlags with an unknown bit changed the event to %#x, or did not fail", e.Flags())
	}
}

// Every flag has its own letter, and every set of flags reads back as
// written: a flag added to Flags without a letter in flagLetters fails
// here (and so could not be stored by NATS).
func TestFlagLetters(t *testing.T) {
	seen := map[string]Flags{}
	for f := Flags(1); f != 0; f <<= 1 {
		l := f.Letters()
		if f&KnownFlags == 0 {
			if l != "" {
				t.Errorf("unknown flag %#x has letter %q", f, l)
			}
			continue
		}
		if len(l) != 1 {
			t.Errorf("flag %#x is written as %q, want one letter", f, l)
		} else if g, dup := seen[l]; dup {
			t.Errorf("flags %#x and %#x share letter %q", g, f, l)
		}
		seen[l] = f
	}
	for f := Flags(0); f <= KnownFlags; f++ {
		if f&^KnownFlags != 0 {
			continue
		}
		if got, ok := ParseFlagLetters(f.Letters()); !ok || got != f {
			t.Errorf("flags %#x written as %q read back as %#x, %v", f, f.Letters(), got, ok)
		}
	}
	for _, bad := range []string{"pc", "cc", "x", "c ", "C", "zc"} {
		if f, ok := ParseFlagLetters(bad); ok {
			t.Errorf("letters %q read as %#x: not herd's", bad, f)
		}
	}
}
