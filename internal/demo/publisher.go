package demo

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/herd-sse/herd"
	"github.com/herd-sse/herd/hub"
)

// A Publisher feeds the demo through a hub: one run after another, each a
// new topic demo/cowsay/<start time> with the ten quotes, one per
// Interval (as text), then a close. A page opened mid-run replays the quotes so far,
// follows the rest live and stops at the close.
type Publisher struct {
	Hub      *hub.Hub
	Interval time.Duration // between quotes; zero means 1s
	Pause    time.Duration // between runs; zero means 5s
	Logger   *slog.Logger  // nil means none

	mu      sync.Mutex
	current string
}

// Current returns the topic of the run in progress (or the last one).
func (p *Publisher) Current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current
}

// Run publishes runs until ctx is done.
func (p *Publisher) Run(ctx context.Context) {
	interval, pause := p.Interval, p.Pause
	if interval <= 0 {
		interval = time.Second
	}
	if pause <= 0 {
		pause = 5 * time.Second
	}
	for {
		topic := DefaultTopic + "/" + time.Now().UTC().Format("20060102-150405.000")
		p.mu.Lock()
		p.current = topic
		p.mu.Unlock()
		for _, q := range Quotes {
			if !sleep(ctx, interval) {
				return
			}
			p.publish(ctx, herd.Message{Topics: []string{topic}, Data: q}) // text: the page shows it as such
		}
		p.publish(ctx, herd.Message{Topics: []string{topic}, NoData: true, Close: true})
		if !sleep(ctx, pause) {
			return
		}
	}
}

func (p *Publisher) publish(ctx context.Context, m herd.Message) {
	if _, _, err := p.Hub.Publish(ctx, m); err != nil && ctx.Err() == nil && p.Logger != nil {
		p.Logger.Warn("demo publisher", "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
