package herd

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The first setting that differs is reported, with both values as herd
// serve's flags take them, and what to do.
func TestHistorySettings_Mismatch(t *testing.T) {
	base := StoreOptions{}.History()
	if err := base.Mismatch("s", base); err != nil {
		t.Errorf("equal settings: %v", err)
	}
	noLimit := StoreOptions{Retention: Retention{MaxEvents: -1, MaxAge: -1}}.History()
	for _, tc := range []struct {
		own, recorded HistorySettings
		want          []string
	}{
		{HistorySettings{10, time.Hour, time.Hour}, HistorySettings{1000, time.Hour, time.Hour},
			[]string{"s records history-max-events=1000 but this node has history-max-events=10", "--history-max-events=1000", "--change-history-settings"}},
		{noLimit, base, []string{"history-max-events=100000 but this node has history-max-events=-1"}},
		{HistorySettings{5, 0, time.Hour}, HistorySettings{5, 24 * time.Hour, time.Hour},
			[]string{"history-max-age=24h0m0s but this node has history-max-age=-1s"}},
		{HistorySettings{5, 0, time.Hour}, HistorySettings{5, 0, 2 * time.Hour},
			[]string{"idempotency-ttl=2h0m0s but this node has idempotency-ttl=1h0m0s"}},
	} {
		err := tc.own.Mismatch("s", tc.recorded)
		var se *SettingsError
		if !errors.As(err, &se) {
			t.Errorf("%+v against %+v: %v, want a *SettingsError", tc.own, tc.recorded, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v against %+v: %q, want it to contain %q", tc.own, tc.recorded, err, w)
			}
		}
	}
}
