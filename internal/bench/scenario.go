package bench

import (
	"context"
	"strings"
)

// A Scenario is one of the benchmarks BENCHMARKS.md describes (B1–B7) and
// reports.
type Scenario struct {
	Name  string
	Alias string
	Title string
	run   func(ctx context.Context, c Config, t Target) ([]Report, error)
}

// Run runs the scenario against t. Off Linux it returns ErrUnsupported:
// the load generator is Linux's (epoll, /proc).
func (s Scenario) Run(ctx context.Context, c Config, t Target) ([]Report, error) {
	return s.run(ctx, c, t)
}

// Scenarios are B1–B6.
var Scenarios = []Scenario{
	{"B1", "idle", "idle subscribers: memory and CPU per subscriber", runIdle},
	{"B2", "fanout", "fan-out: one topic to many subscribers, rate sweep and bursts", runFanout},
	{"B3", "latency", "publish-to-receive latency under load", runLatency},
	{"B4", "accept", "connection accept rate, and a reconnect storm with Last-Event-ID", runAccept},
	{"B5", "topics", "many topics, one subscriber each", runTopics},
	{"B6", "slow", "slow consumers among healthy ones", runSlow},
}

// Curve is the scenario behind the plot in BENCHMARKS.md: memory per
// subscriber and latency at growing subscriber counts. It is not part of
// "all".
var Curve = Scenario{"curve", "", "memory per subscriber and latency against subscriber count", runCurve}

// PerSubscriber (B7) is what one subscriber costs, on one topic and one
// topic each: the scenario that compares protocols and hubs (BENCHMARKS.md,
// "Mercure"). It is not part of "all".
var PerSubscriber = Scenario{"B7", "persub", "memory and CPU per delivery per subscriber, on one topic and one topic each", runPerSubscriber}

// Lookup finds a scenario by name or alias.
func Lookup(name string) (Scenario, bool) {
	for _, s := range append(Scenarios, Curve, PerSubscriber) {
		if strings.EqualFold(s.Name, name) || strings.EqualFold(s.Alias, name) {
			return s, true
		}
	}
	return Scenario{}, false
}
