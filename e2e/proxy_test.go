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

// The reverse proxies' configurations, as the README gives them, with
// their idle timeouts cut to 3s so that a test can outlast them.
var proxies = map[string]struct {
	binary string
	config string // fmt: listen port, herd's port, the directory
	args   func(dir, conf string) []string
}{
	"nginx": {
		binary: "nginx",
		config: `worker_processes 1;
pid %[3]s/nginx.pid;
error_log %[3]s/error.log;
events {}
http {
  access_log %[3]s/access.log;
  client_body_temp_path %[3]s/body; proxy_temp_path %[3]s/proxy;
  fastcgi_temp_path %[3]s/fastcgi; uwsgi_temp_path %[3]s/uwsgi; scgi_temp_path %[3]s/scgi;
  upstream herd {
    server 127.0.0.1:%[2]d;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:%[1]d;
    location / {
      proxy_pass http://herd;
      proxy_http_version 1.1;          # keep-alive to herd, and no chunk re-framing
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 3s;           # stock: 60s; herd's heartbeat (15s) keeps streams under it
    }
  }
}
`,
		args: func(dir, conf string) []string { return []string{"-p", dir, "-c", conf, "-g", "daemon off;"} },
	},
	"haproxy": {
		binary: "haproxy",
		config: `global
  maxconn 1000
defaults
  mode http
  option forwardfor
  timeout connect 5s
  timeout client 3s                   # typical: 30s-1m; the heartbeat keeps streams under it
  timeout server 3s
frontend web
  bind 127.0.0.1:%[1]d
  default_backend herd
backend herd
  server herd1 127.0.0.1:%[2]d
`,
		args: func(dir, conf string) []string { return []string{"-db", "-f", conf} },
	},
	"caddy": {
		binary: "caddy",
		config: `{
	admin off
	auto_https off
	storage file_system %[3]s
}
http://127.0.0.1:%[1]d {
	reverse_proxy 127.0.0.1:%[2]d {
		transport http {
			read_timeout 3s  # default: none; set one and the heartbeat keeps streams under it
		}
	}
}
`,
		args: func(dir, conf string) []string { return []string{"run", "--config", conf, "--adapter", "caddyfile"} },
	},
}

// startProxy runs a proxy in front of herd and returns its base URL.
func startProxy(t *testing.T, name string, herdURL string) string {
	t.Helper()
	p := proxies[name]
	bin, err := exec.LookPath(p.binary)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found and CI=true: scripts/test.sh installs it (apt-get install -y nginx-light haproxy caddy)", p.binary)
		}
		t.Skipf("%s not found: run ./scripts/test.sh, which installs it", p.binary)
	}
	_, herdPort, _ := net.SplitHostPort(strings.TrimPrefix(herdURL, "http://"))
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, name+".conf")
	var hp int
	fmt.Sscan(herdPort, &hp)
	if err := os.WriteFile(conf, fmt.Appendf(nil, p.config, port, hp, dir), 0o644); err != nil {
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
