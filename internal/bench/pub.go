package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A Publisher publishes on a fixed, open-loop schedule: event i is due at
// start + i/rate, carries that scheduled time in its data, and is sent
// without waiting for earlier ones. A hub that falls behind shows up as
// latency, not as a lower publish rate (no coordinated omission).
type Publisher struct {
	URLs        []string    // where to POST: worker w to URLs[w%len(URLs)]
	Body        BodyFunc    // the request body of an event
	ContentType string      // e.g. application/x-www-form-urlencoded
	Header      http.Header // extra request headers
	Workers     int         // concurrent keep-alive connections; 0 means 64

	client *http.Client
}

// A BodyFunc returns the body publishing data to topic.
type BodyFunc func(topic, data string) []byte

// FormBody is herd's form publish: topic=…&data=….
func FormBody(topic, data string) []byte {
	return []byte("topic=" + topic + "&data=" + data)
}

// Payload returns an event's data: the marker the generator parses, then
// padding up to size bytes.
func Payload(seq int, sched time.Time, size int) string {
	p := "hb:" + strconv.Itoa(seq) + ":" + strconv.FormatInt(sched.UnixNano(), 10) + ":"
	if len(p) < size {
		p += strings.Repeat("x", size-len(p))
	}
	return p
}

// PubResult is what a publishing run did.
type PubResult struct {
	Scheduled int
	Acked     int
	Failed    int
	PerTopic  []int // events acknowledged per topic
	FirstErr  string
	Response  Hist // time from sending to the hub's answer
	Late      Hist // how far behind its schedule each event was sent
	Elapsed   time.Duration
}

// Run publishes rate events per second for d, in bursts of burst events
// (1 for a smooth schedule), to topics chosen by pick(i) among n.
func (p *Publisher) Run(ctx context.Context, rate float64, d time.Duration, burst, n int, pick func(i int) int, size int) PubResult {
	workers := p.Workers
	if workers <= 0 {
		workers = 64
	}
	if p.client == nil {
		p.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers, IdleConnTimeout: time.Minute}}
	}
	burst = max(burst, 1)
	type job struct {
		topic, seq int
		sched      time.Time
	}
	jobs := make(chan job, 1<<16)
	res := PubResult{PerTopic: make([]int, n)}
	var mu sync.Mutex
	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var resp, late Hist
			target := p.URLs[w%len(p.URLs)]
			var rp *rawPoster
			if u, err := url.Parse(target); err == nil && u.Scheme == "http" {
				rp = newRawPoster(u, p.ContentType, p.Header)
				defer rp.close()
			}
			for j := range jobs {
				start := time.Now()
				late.Record(start.Sub(j.sched))
				var err error
				if rp != nil {
					err = rp.post(p.Body(topicName(strconv.Itoa(j.topic)), Payload(j.seq, j.sched, size)))
				} else {
					err = p.post(ctx, target, strconv.Itoa(j.topic), Payload(j.seq, j.sched, size))
				}
				resp.Record(time.Since(start))
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
				} else {
					acked.Add(1)
					res.PerTopic[j.topic]++
				}
				mu.Unlock()
			}
			mu.Lock()
			res.Response.Merge(&resp)
			res.Late.Merge(&late)
			mu.Unlock()
		})
	}
	seqs := make([]int, n)
	start := time.Now()
	total := int(rate * d.Seconds())
	for i := 0; i < total && ctx.Err() == nil; i += burst {
		sched := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if w := time.Until(sched); w > 0 {
			time.Sleep(w)
		}
		for k := i; k < min(i+burst, total); k++ {
			t := pick(k)
			jobs <- job{topic: t, seq: seqs[t], sched: sched}
			seqs[t]++
			res.Scheduled++
		}
	}
	close(jobs)
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Acked, res.Failed = int(acked.Load()), int(failed.Load())
	return res
}

func (p *Publisher) post(ctx context.Context, url, topic, data string) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(p.Body(topicName(topic), data)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", p.ContentType)
	maps.Copy(req.Header, p.Header)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("publish: %s", resp.Status)
	}
	return nil
}

// topicName is the topic the bench uses for topic number t.
func topicName(t string) string { return "bench/" + t }
