// Package metrics exposes a hub's figures to Prometheus
// (github.com/prometheus/client_golang), named herd_*. Figures are read
// from hub.Stats at each scrape: the hub's hot paths only bump atomic
// counters and know nothing of Prometheus.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herd-sse/herd/hub"
)

// Handler serves the metrics of h, Go's runtime and the process, in the
// Prometheus text format. conns, if not nil, reports the open HTTP
// connections net/http holds (those the connection engine took over are
// herd_subscribers_parked).
func Handler(h *hub.Hub, conns func() int) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{hub: h, conns: conns},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	descSubscribers = prometheus.NewDesc("herd_subscribers", "Subscriptions open now, on this node.", nil, nil)
	descParked      = prometheus.NewDesc("herd_subscribers_parked", "Open subscriptions held by the connection engine (no goroutine each).", nil, nil)
	descConns       = prometheus.NewDesc("herd_http_connections", "Open HTTP connections served by net/http (parked subscribers, and h2c connections herd's HTTP/2 server took over, not included).", nil, nil)
	descPublished   = prometheus.NewDesc("herd_events_published_total", "Events published through this node and stored.", nil, nil)
	descDelivered   = prometheus.NewDesc("herd_events_delivered_total", "Events handed to subscribers, one per subscriber, replays included.", nil, nil)
	descReplayed    = prometheus.NewDesc("herd_events_replayed_total", "Events delivered from history to resuming subscribers.", nil, nil)
	descBytes       = prometheus.NewDesc("herd_bytes_written_total", "Bytes of events written to HTTP streams.", nil, nil)
	descDisconnects = prometheus.NewDesc("herd_disconnects_total", "Subscriptions ended, by reason.", []string{"reason"}, nil)
	descQueueHigh   = prometheus.NewDesc("herd_queue_high_water", "The most events any subscriber has had waiting.", nil, nil)
	descPublishTime = prometheus.NewDesc("herd_publish_store_seconds", "Time the store took to acknowledge a publish.", nil, nil)
	descStoreErrors = prometheus.NewDesc("herd_store_errors_total", "Failed store calls: publishes, replays, follows.", nil, nil)
	descDamaged     = prometheus.NewDesc("herd_damaged_events_total", "Damaged stored events met (by the follower or a replay) and not delivered.", nil, nil)
)

type collector struct {
	hub   *hub.Hub
	conns func() int
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descSubscribers, float64(st.Subscribers))
	gauge(descParked, float64(st.Parked))
	if c.conns != nil {
		gauge(descConns, float64(c.conns()))
	}
	counter(descPublished, float64(st.Published))
	counter(descDelivered, float64(st.Delivered))
	counter(descReplayed, float64(st.Replayed))
	counter(descBytes, float64(st.BytesWritten))
	for reason, n := range st.Ended {
		counter(descDisconnects, float64(n), reason)
	}
	gauge(descQueueHigh, float64(st.QueueHighWater))
	counter(descStoreErrors, float64(st.StoreErrors))
	counter(descDamaged, float64(st.DamagedEvents))
	l := st.PublishLatency
	buckets := make(map[float64]uint64, len(l.Bounds))
	for i, b := range l.Bounds {
		buckets[b] = l.Buckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(descPublishTime, l.Count, l.Sum, buckets)
}
