package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/herd-sse/herd/internal/bench"
)

const benchSynopsis = "[--hub URL [--hub-pid PID | --hub-cmd COMMAND] | --store URL --nodes N] [--subs N] [--duration D] [--rate R] [--json] SCENARIO...|all"

// runBench is herd bench.
func runBench(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("bench", benchSynopsis, io)
	hubURL := fs.String("hub", "", "hub `URL` to benchmark (default: a fresh herd serve --store memory, started for the run)")
	hubPID := fs.Int("hub-pid", 0, "the hub's process `PID`, for its memory and CPU from /proc (known when bench starts it)")
	hubCmd := fs.String("hub-cmd", "", "shell `COMMAND` that starts the hub --hub names; bench runs it, measures it, and starts it afresh for each step of B7 (persub)")
	baseline := fs.Bool("baseline", true, "run every scenario against the naive net/http hub too, and print ratios")
	herdArgs := fs.String("herd-args", "", "extra `FLAGS` for the herd serve bench starts, like '--queue-length 64'")
	store := fs.String("store", "memory", "`STORE` of the herd nodes bench starts: memory, bolt:PATH, or redis://… or nats://… (each run gets fresh keys)")
	nodes := fs.Int("nodes", 1, "herd nodes sharing --store (redis:// or nats://); with more than one, the baseline is one node on the same store")
	subs := fs.Int("subs", 0, "subscribers (default: each scenario's own: 19,000 or 10,000)")
	duration := fs.Duration("duration", 10*time.Second, "length of each publishing step")
	rate := fs.Float64("rate", 0, "events per second (default: each scenario's own)")
	payload := fs.Int("payload", 64, "event data bytes")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	subPath := fs.String("sub-path", "/events?topic={topic}", "subscription `PATH`; {topic} is replaced")
	pubPath := fs.String("pub-path", "/events", "publish `PATH` (POST)")
	pubBody := fs.String("pub-body", "topic={topic}&data={data}", "publish `BODY`; {topic} and {data} are replaced")
	pubType := fs.String("pub-content-type", "application/x-www-form-urlencoded", "publish `CONTENT-TYPE`")
	var pubHeaders headerFlags
	fs.Var(&pubHeaders, "pub-header", "a publish request `HEADER`, 'Name: value' (repeatable)")
	names, err := parseFlags(fs, args, io, map[string]string{"hub": "HERD_BENCH_HUB"})
	if err != nil {
		return err
	}
	const hint = "herd bench latency   or   herd bench all"
	if len(names) == 0 {
		return usagef(hint, "bench needs scenarios: B1..B6 (idle fanout latency accept topics slow), all, curve, or B7 (persub)")
	}
	var scenarios []bench.Scenario
	for _, n := range names {
		if n == "all" {
			scenarios = bench.Scenarios
			break
		}
		s, ok := bench.Lookup(n)
		if !ok {
			return usagef(hint, "unknown scenario %q: use B1..B6, their names (idle fanout latency accept topics slow), all, curve, or B7 (persub)", n)
		}
		scenarios = append(scenarios, s)
	}
	if *duration <= 0 || *payload < 32 || *subs < 0 || *rate < 0 {
		return usagef(hint, "--duration must be positive, --payload at least 32 bytes, --subs and --rate not negative")
	}
	if runtime.GOOS != "linux" {
		return fmt.Errorf("herd bench cannot run on %s: its load generator needs Linux (epoll, sockets bound to 127.x.y.z source addresses, /proc for the hub's memory and CPU); run it on a Linux machine, beside the hub it measures", runtime.GOOS)
	}
	limit := bench.RaiseFileLimit()

	hdrs, err := pubHeaders.parse("bench --pub-header")
	if err != nil {
		return err
	}
	header := make(http.Header)
	for _, h := range hdrs {
		header.Add(h.name, h.value)
	}
	body := func(topic, data string) []byte {
		return []byte(strings.NewReplacer("{topic}", topic, "{data}", data).Replace(*pubBody))
	}
	target := func(name string, nodes []bench.Node, resume bool) bench.Target {
		return bench.Target{Name: name, Nodes: nodes, SubPath: *subPath, PubPath: *pubPath,
			Body: body, ContentType: *pubType, Header: header, Resume: resume}
	}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	if *nodes < 1 {
		return usagef("herd bench --store redis://127.0.0.1:6379/0 --nodes 3 fanout", "--nodes must be at least 1")
	}
	if k := kindOf(*store); *nodes > 1 && (k == nil || !k.shared) {
		return usagef("herd bench --store redis://127.0.0.1:6379/0 --nodes 3 fanout", "--nodes %d needs a shared store: --store redis://… or nats://…, not %q", *nodes, *store)
	}
	if *hubCmd != "" && (*hubURL == "" || *hubPID != 0) {
		return usagef("herd bench --hub http://127.0.0.1:3000 --hub-cmd 'my-hub --listen 127.0.0.1:3000' persub", "--hub-cmd starts the hub that --hub names: give --hub, and not --hub-pid (bench knows the PID)")
	}
	if *hubURL != "" && *nodes > 1 {
		return usagef(hint, "--hub benchmarks a running hub; --nodes starts herd nodes: use one or the other")
	}
	if _, err := parseStore(*store); err != nil {
		return err
	}
	var targets []bench.Target
	var described []string
	// restartable starts a target's processes with start, and sets its
	// Restart to stop them and start new ones.
	restartable := func(t *bench.Target, start func() ([]*process, error)) error {
		var procs []*process
		stopAll := func() {
			for _, p := range procs {
				p.stop()
			}
			procs = nil
		}
		stops = append(stops, func() { stopAll() })
		t.Restart = func() ([]bench.Node, error) {
			stopAll()
			var err error
			procs, err = start()
			var nodes []bench.Node
			for _, p := range procs {
				nodes = append(nodes, bench.Node{Base: p.url, PID: p.pid})
			}
			return nodes, err
		}
		var err error
		t.Nodes, err = t.Restart()
		return err
	}
	// startHerd starts n herd nodes sharing one fresh copy of the store.
	startHerd := func(name string, n int) (bench.Target, error) {
		t := target(name, nil, true)
		err := restartable(&t, func() ([]*process, error) {
			spec := freshStore(*store)
			var procs []*process
			for range n {
				h, err := startProcess(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--store", spec, "--log-level", "error"}, strings.Fields(*herdArgs)...))
				if err != nil {
					return procs, fmt.Errorf("starting herd: %w", err)
				}
				procs = append(procs, h)
			}
			return procs, nil
		})
		described = append(described, fmt.Sprintf("%s: %d herd node(s) on %s", name, n, redact(*store)))
		return t, err
	}
	switch {
	case *hubCmd != "":
		base := strings.TrimSuffix(*hubURL, "/")
		t := target("hub", nil, false)
		err := restartable(&t, func() ([]*process, error) {
			p, err := startCommand(ctx, *hubCmd, base)
			return []*process{p}, err
		})
		if err != nil {
			return err
		}
		targets = append(targets, t)
		described = append(described, fmt.Sprintf("hub: %s, started by bench: %s", *hubURL, *hubCmd))
	case *hubURL != "":
		targets = append(targets, target("hub", []bench.Node{{Base: strings.TrimSuffix(*hubURL, "/"), PID: *hubPID}}, false))
		described = append(described, "hub: "+*hubURL)
	default:
		t, err := startHerd("herd", *nodes)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	switch {
	case !*baseline:
	case *nodes > 1:
		t, err := startHerd("baseline", 1)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	default:
		t := target("baseline", nil, false)
		err := restartable(&t, func() ([]*process, error) {
			b, err := startProcess(ctx, []string{"refhub", "--addr", "127.0.0.1:0"})
			if err != nil {
				return nil, fmt.Errorf("starting the baseline hub: %w", err)
			}
			return []*process{b}, nil
		})
		if err != nil {
			return err
		}
		targets = append(targets, t)
		described = append(described, "baseline: a naive net/http hub (a goroutine and channel per subscriber, no store)")
	}

	cfg := bench.Config{Subs: *subs, Duration: *duration, Payload: *payload, Rate: *rate, Progress: io.Stderr}
	if *asJSON {
		cfg.Progress = nil
	}
	var reports []bench.Report
	for _, s := range scenarios {
		for _, t := range targets {
			if cfg.Progress != nil {
				fmt.Fprintf(io.Stderr, "%s (%s) on %s...\n", s.Name, s.Title, t.Name)
			}
			reps, err := s.Run(ctx, cfg, t)
			reports = append(reports, reps...)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", s.Name, t.Name, err)
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"machine": map[string]any{"cpus": runtime.NumCPU(), "go": runtime.Version(), "open_file_limit": limit},
			"targets": described,
			"time":    time.Now().UTC().Format(time.RFC3339),
			"reports": reports,
		})
	}
	for _, d := range described {
		fmt.Fprintln(io.Stdout, d)
	}
	printTable(io.Stdout, reports)
	return nil
}

// freshStore gives a shared store spec keys of its own, so that runs (and
// the targets of one run) never see each other's events.
func freshStore(spec string) string {
	if k := kindOf(spec); k == nil || !k.shared {
		return spec
	}
	u, err := url.Parse(spec)
	if err != nil {
		return spec // parseStore reports it
	}
	q := u.Query()
	q.Set("prefix", "bench"+strconv.FormatInt(time.Now().UnixNano(), 36))
	u.RawQuery = q.Encode()
	return u.String()
}

// printTable prints each scenario step with herd's figures, the baseline's
// and the ratio (how many times better herd is; above 1 is better).
func printTable(w io.Writer, reports []bench.Report) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	key := func(r bench.Report) string { return r.Scenario + "|" + r.Params }
	other := map[string]bench.Report{}
	for _, r := range reports {
		if r.Target == "baseline" {
			other[key(r)] = r
		}
	}
	for _, r := range reports {
		if r.Target == "baseline" {
			continue
		}
		base, hasBase := other[key(r)]
		fmt.Fprintf(tw, "\n%s\t%s\t\t\t\n", r.Scenario, r.Params)
		fmt.Fprintf(tw, "\tmetric\t%s\tbaseline\tratio\n", r.Target)
		for _, m := range r.Metrics {
			b, ratio := "—", "—"
			if hasBase {
				for _, bm := range base.Metrics {
					if bm.Name == m.Name {
						b = format(bm.Value, bm.Unit)
						ratio = ratioOf(m, bm)
					}
				}
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\n", m.Name, format(m.Value, m.Unit), b, ratio)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(tw, "\tnote: %s\t\t\t\n", n)
		}
		if hasBase {
			for _, n := range base.Notes {
				fmt.Fprintf(tw, "\tbaseline note: %s\t\t\t\n", n)
			}
		}
	}
}

func format(v float64, unit string) string {
	switch {
	case unit == "" || unit == "events" || unit == "requests":
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return fmt.Sprintf("%.3g %s", v, unit)
}

func ratioOf(m, base bench.Metric) string {
	if m.Value == 0 || base.Value == 0 {
		return "—"
	}
	r := m.Value / base.Value
	if !m.Higher {
		r = base.Value / m.Value
	}
	return fmt.Sprintf("×%.2f", r)
}

// A process is a hub bench started.
type process struct {
	cmd *exec.Cmd
	url string
	pid int
}

func startProcess(ctx context.Context, args []string) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s did not start: %w", args[0], err)
	}
	go io.Copy(io.Discard, out)
	p := &process{cmd: cmd, pid: cmd.Process.Pid}
	p.url = strings.TrimSpace(line[strings.Index(line, "http://"):])
	return p, nil
}

// startCommand starts a hub with a shell command and waits until base
// accepts connections. exec makes the hub the process bench measures.
func startCommand(ctx context.Context, command, base string) (*process, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--hub %q is not a URL like http://127.0.0.1:3000", base)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s already accepts connections before --hub-cmd started: another process holds the port", u.Host)
	}
	cmd := exec.Command("/bin/sh", "-c", "exec "+command)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, url: base, pid: cmd.Process.Pid}
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("the hub started by %q does not accept connections on %s: %w", command, u.Host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// runRefHub is the hidden herd refhub: the naive baseline hub herd bench
// compares with.
func runRefHub(ctx context.Context, args []string, io IO) error {
	fs := newFlagSet("refhub", "[--addr HOST:PORT]", io)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	if _, err := parseFlags(fs, args, io, nil); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", *addr, err)
	}
	fmt.Fprintf(io.Stdout, "refhub listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: bench.NewRefHub(), ReadHeaderTimeout: 10 * time.Second}
	return serveUntilDone(ctx, srv, ln, time.Second, nil)
}
