//go:build linux && integration

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herd-sse/herd/sse"
)

// The reverse proxies' configurations are read from docs/proxies.md, so
// that what the page shows is what is tested. Each is rewritten for a
// test: listen on a free loopback port without TLS, forward to the test's
// herd, and cut the idle timeouts to 3s so that a test can outlast them.
// Every rewrite must apply exactly once: a page that changed shape fails
// the test instead of going untested.
var proxies = map[string]struct {
	binary   string
	rewrites []rewrite // on the page's configuration; fmt: listen port, herd's port, the directory
	wrap     string    // fmt: the configuration, listen port, herd's port, the directory
	args     func(dir, conf string) []string
}{
	"nginx": {
		binary: "nginx",
		rewrites: []rewrite{
			{"server 127.0.0.1:8080;", "server 127.0.0.1:%[2]d;"},
			{"listen 443 ssl http2;", "listen 127.0.0.1:%[1]d;"},
			{"  server_name hub.example.com;\n", ""},
			{"  ssl_certificate     /etc/ssl/hub.example.com.pem;\n", ""},
			{"  ssl_certificate_key /etc/ssl/hub.example.com.key;\n", ""},
			{"proxy_read_timeout 60s;", "proxy_read_timeout 3s;"},
		},
		wrap: `worker_processes 1;
pid %[4]s/nginx.pid;
error_log %[4]s/error.log;
events {}
http {
  access_log %[4]s/access.log;
  client_body_temp_path %[4]s/body; proxy_temp_path %[4]s/proxy;
  fastcgi_temp_path %[4]s/fastcgi; uwsgi_temp_path %[4]s/uwsgi; scgi_temp_path %[4]s/scgi;
%[1]s}
`,
		args: func(dir, conf string) []string { return []string{"-p", dir, "-c", conf, "-g", "daemon off;"} },
	},
	"haproxy": {
		binary: "haproxy",
		rewrites: []rewrite{
			{"server herd1 127.0.0.1:8080", "server herd1 127.0.0.1:%[2]d"},
			{"bind :443 ssl crt /etc/haproxy/hub.example.com.pem alpn h2,http/1.1", "bind 127.0.0.1:%[1]d"},
			{"timeout client 1m", "timeout client 3s"},
			{"timeout server 1m", "timeout server 3s"},
		},
		wrap: "global\n  maxconn 1000\n%[1]s",
		args: func(dir, conf string) []string { return []string{"-db", "-f", conf} },
	},
	"caddy": {
		binary: "caddy",
		rewrites: []rewrite{
			{"hub.example.com {", "http://127.0.0.1:%[1]d {"},
			// Caddy has no read timeout by default: set one, so that the
			// heartbeat has something to keep streams under.
			{"reverse_proxy 127.0.0.1:8080", "reverse_proxy 127.0.0.1:%[2]d {\n\t\ttransport http {\n\t\t\tread_timeout 3s\n\t\t}\n\t}"},
		},
		wrap: "{\n\tadmin off\n\tauto_https off\n\tstorage file_system %[4]s\n}\n%[1]s",
		args: func(dir, conf string) []string { return []string{"run", "--config", conf, "--adapter", "caddyfile"} },
	},
}

// A rewrite replaces one text of a documented configuration.
type rewrite struct{ from, to string }

// proxyConfig is the proxy's configuration from docs/proxies.md, rewritten
// for a test.
func proxyConfig(t *testing.T, name string, port, herdPort int, dir string) string {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "proxies.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, conf, ok := strings.Cut(string(page), "\n```"+name+"\n")
	if !ok {
		t.Fatalf("docs/proxies.md has no %s block", name)
	}
	conf, _, _ = strings.Cut(conf, "```\n")
	p := proxies[name]
	for _, r := range p.rewrites {
		if n := strings.Count(conf, r.from); n != 1 {
			t.Fatalf("docs/proxies.md's %s configuration has %q %d times, want once: update the test's rewrites", name, r.from, n)
		}
		to := r.to
		if strings.Contains(to, "%") { // a text without verbs would get %!(EXTRA …)
			to = fmt.Sprintf(to, port, herdPort, dir)
		}
		conf = strings.Replace(conf, r.from, to, 1)
	}
	return fmt.Sprintf(p.wrap, conf, port, herdPort, dir)
}

// startProxy runs a proxy in front of herd and returns its base URL.
func startProxy(t *testing.T, name string, herdURL string) string {
	t.Helper()
	p := proxies[name]
	bin, err := exec.LookPath(p.binary)
	if err != nil {
		lacking(t, p.binary+" not found", "scripts/test.sh installs it (apt-get install -y nginx-light haproxy caddy)")
	}
	_, herdPort, _ := net.SplitHostPort(strings.TrimPrefix(herdURL, "http://"))
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, name+".conf")
	var hp int
	fmt.Sscan(herdPort, &hp)
	if err := os.WriteFile(conf, []byte(proxyConfig(t, name, port, hp, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, p.args(dir, conf)...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	// Output to a file, and the proxy in a process group of its own:
	// nginx's workers outlive a killed master unless the group goes.
	logFile, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	out := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for range 1200 {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s did not come up in front of herd within 30s:\n%s", name, out())
	return ""
}

// TestProxies runs herd behind real nginx, HAProxy and Caddy. Events
// arrive one by one through each (a buffering proxy would hold a small
// event until more came: the test would hang), and a stream idle for
// longer than the proxy's idle timeout survives thanks to heartbeats;
// without them, the same proxy cuts it.
func TestProxies(t *testing.T) {
	for _, name := range []string{"nginx", "haproxy", "caddy"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("unbuffered, and heartbeats outlast the idle timeout", func(t *testing.T) {
				h := startHerd(t, "--store", "memory", "--log-level", "debug", "--heartbeat", "1s")
				base := startProxy(t, name, h.URL)
				resp, err := http.Get(base + "/events?topic=p")
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("subscribe through %s: %v %v", name, err, resp)
				}
				defer resp.Body.Close()
				events := sse.NewReader(resp.Body)
				// One event at a time: each must arrive before the next is sent.
				for i := range 3 {
					id := mustPublish(t, h.URL, map[string]any{"topic": "p", "data": fmt.Sprint(i)})
					e, err := events.Next()
					if err != nil || e.ID != id {
						t.Fatalf("event %d through %s: %+v %v", i, name, e, err)
					}
				}
				time.Sleep(7 * time.Second) // idle for more than twice the 3s timeout
				id := mustPublish(t, h.URL, map[string]any{"topic": "p", "data": "after the idle spell"})
				if e, err := events.Next(); err != nil || e.ID != id {
					t.Fatalf("after 7s idle through %s: %+v %v", name, e, err)
				}
				if n := streamRequests(h, "p"); n != 1 {
					t.Errorf("%d subscriptions: the stream was cut and resumed", n)
				}
				// Through the proxy a client is not local: no publishing
				// without a key, however local the proxy.
				resp2, err := http.Post(base+"/events", "application/x-www-form-urlencoded", strings.NewReader("topic=p&data=x"))
				if err != nil {
					t.Fatal(err)
				}
				resp2.Body.Close()
				if resp2.StatusCode != 403 {
					t.Errorf("publish through %s without a key: %d, want 403", name, resp2.StatusCode)
				}
			})
			t.Run("without heartbeats the proxy cuts idle streams", func(t *testing.T) {
				h := startHerd(t, "--store", "memory", "--heartbeat", "1h")
				base := startProxy(t, name, h.URL)
				resp, err := http.Get(base + "/events?topic=p")
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("subscribe through %s: %v %v", name, err, resp)
				}
				defer resp.Body.Close()
				done := make(chan error, 1)
				go func() {
					_, err := sse.NewReader(resp.Body).Next()
					done <- err
				}()
				select {
				case err := <-done:
					if err == nil {
						t.Errorf("an event arrived on an idle topic")
					}
				case <-time.After(60 * time.Second):
					t.Errorf("%s kept an idle stream for 60s despite its 3s timeout: this test proves nothing", name)
				}
			})
		})
	}
}
