package herd

import (
	"fmt"
	"strconv"
	"time"
)

// HistorySettings are the settings that shape a shared log: nodes of one
// hub sharing a store must agree on them, or a node's own settings would
// change the history of all (a shorter retention trims every node's
// history). Zero means no limit. Stores shared between nodes record them
// when the store is created, and refuse to open with others (a
// *SettingsError) unless StoreOptions.ChangeSettings says to change them.
type HistorySettings struct {
	MaxEvents      int
	MaxAge         time.Duration
	IdempotencyTTL time.Duration
}

// History returns the history settings of o, with its defaults applied
// and "no limit" (negative) as zero.
func (o StoreOptions) History() HistorySettings {
	o = o.WithDefaults()
	return HistorySettings{
		MaxEvents:      max(o.Retention.MaxEvents, 0),
		MaxAge:         max(o.Retention.MaxAge, 0),
		IdempotencyTTL: o.IdempotencyTTL,
	}
}

// String gives the settings as herd serve's flags take them.
func (h HistorySettings) String() string {
	return fmt.Sprintf("history-max-events=%s history-max-age=%s idempotency-ttl=%s",
		flagEvents(h.MaxEvents), flagAge(h.MaxAge), h.IdempotencyTTL)
}

func flagEvents(n int) string {
	if n <= 0 {
		return "-1"
	}
	return strconv.Itoa(n)
}

func flagAge(d time.Duration) string {
	if d <= 0 {
		return "-1s"
	}
	return d.String()
}

// Mismatch returns a *SettingsError for the first setting in which
// recorded, the settings recorded in the store described by store, and
// own differ, or nil if they agree.
func (own HistorySettings) Mismatch(store string, recorded HistorySettings) error {
	switch {
	case own.MaxEvents != recorded.MaxEvents:
		return &SettingsError{Store: store, Setting: "history-max-events", Recorded: flagEvents(recorded.MaxEvents), Own: flagEvents(own.MaxEvents)}
	case own.MaxAge != recorded.MaxAge:
		return &SettingsError{Store: store, Setting: "history-max-age", Recorded: flagAge(recorded.MaxAge), Own: flagAge(own.MaxAge)}
	case own.IdempotencyTTL != recorded.IdempotencyTTL:
		return &SettingsError{Store: store, Setting: "idempotency-ttl", Recorded: recorded.IdempotencyTTL.String(), Own: own.IdempotencyTTL.String()}
	}
	return nil
}

// A SettingsError is a store's refusal to open with a setting other than
// the one recorded in it: the nodes sharing it would disagree on their
// common history.
type SettingsError struct {
	Store    string // the store, as its package names it
	Setting  string // herd serve's flag (without --), or the Options field
	Recorded string // the value recorded in the store
	Own      string // this node's value
}

func (e *SettingsError) Error() string {
	return fmt.Sprintf("%s records %s=%s but this node has %s=%s: the nodes sharing a store must agree on the history they share. "+
		"Start this node with --%s=%s; or, to change it for every node, stop them all and start one with the new value and "+
		"--change-history-settings (StoreOptions.ChangeSettings), then the others with the new value (docs/clustering.md)",
		e.Store, e.Setting, e.Recorded, e.Setting, e.Own, e.Setting, e.Recorded)
}
