package cli

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	path := filepath.Join(t.TempDir(), "herd.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheck: flags win over the environment, which wins over the file;
// the output says where each setting came from and hides secrets.
func TestCheck(t *testing.T) {
	path := writeConfig(t, `
# comments are fine
addr = "127.0.0.1:9000"
heartbeat = "20s"
retry = "2s"
cors-origins = ["https://a.example", "https://b.example"]
max-event-size = "64KiB"
publish-rate = 12.5
publish-key = "do-not-print-me"
store = "redis://:hunter2@127.0.0.1:6379/0"
`)
	env := map[string]string{"HERD_RETRY": "4s", "HERD_JWT_KEY": strings.Repeat("j", 40)}
	code, out, errOut := runCLI(t, t.Context(), env, "check", "--config", path, "--heartbeat", "30s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`addr                     = "127.0.0.1:9000"                   # file`,
		`heartbeat                = "30s"                              # flag`,
		`retry                    = "4s"                               # env`,
		`cors-origins             = "https://a.example,https://b.example" # file`,
		`max-event-size           = "65536"                            # file`,
		`publish-rate             = 12.5                               # file`,
		`# publish-key`,
		`# jwt-key`,
		`redis://:xxxxx@127.0.0.1:6379/0`,
		`write-timeout            = "10s"                              # default`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	for _, secret := range []string{"do-not-print-me", "hunter2", "jjjjjjjj"} {
		if strings.Contains(out, secret) {
			t.Errorf("check printed a secret %q", secret)
		}
	}
	// The config file may come from HERD_CONFIG.
	code, out, _ = runCLI(t, t.Context(), map[string]string{"HERD_CONFIG": path}, "check")
	if code != 0 || !strings.Contains(out, `"127.0.0.1:9000"`) {
		t.Errorf("HERD_CONFIG: exit %d\n%s", code, out)
	}
}

func TestCheck_errors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		config string
		args   []string
		code   int
		want   string
	}{
		{"adr = \"x:1\"\n", nil, 2, `unknown setting "adr"`},
		{"[serve]\naddr = \"x:1\"\n", nil, 2, `unknown setting "serve"`},
		{"addr = \n", nil, 2, "line 1"},
		{"adr = \"x:1\"\n", nil, 2, `unknown setting "adr" (keys are herd serve's flag names, like addr or max-event-size); did you mean addr?`},
		{"port = 8080\n", nil, 2, `unknown setting "port" (keys are herd serve's flag names, like addr or max-event-size); herd has addr instead: addr = ":PORT (or HOST:PORT), like :8080"`},
		{"heartbeat = 15\n", nil, 2, `heartbeat = "15": want a duration, like 30s, 1m30s or 250ms`},
		{"queue-length = \"many\"\n", nil, 2, `queue-length = "many": `},
		{"max-event-size = \"lots\"\n", nil, 2, "want a size like"},
		{"cors-origins = [1, 2]\n", nil, 2, "want a list of strings"},
		{"history-max-events = 0\n", nil, 2, "--history-max-events must be positive"},
		{"cors-origins = \"app.example.com\"\n", nil, 2, "want scheme://host"},
		{"jwt-key = \"short\"\n", nil, 2, "at least 32"},
		{"jwt-key = hunter2-unquoted\n", nil, 2, "not shown: it is a secret"},
		{"publish-key = 2026-01-02T03:04:05Z\n", nil, 2, "unsupported value: a time.Time"},
		{"tls-cert = \"" + dir + "/none.pem\"\ntls-key = \"" + dir + "/none.key\"\n", nil, 1, "no such file"},
		{"", []string{"--config", dir + "/missing.toml"}, 1, "no such file"},
	} {
		args := tc.args
		if args == nil {
			args = []string{"--config", writeConfig(t, tc.config)}
		}
		code, _, errOut := runCLI(t, t.Context(), nil, append([]string{"check"}, args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "hunter2") || strings.Contains(errOut, "2026") {
			t.Errorf("%q: exit %d %q, want %d with %q (and no secret)", tc.config, code, errOut, tc.code, tc.want)
		}
	}
}

// TestServe_config: herd serve runs on the file's settings.
func TestServe_config(t *testing.T) {
	path := writeConfig(t, "publish-key = \"from-the-file\"\nstore = \"memory\"\n")
	base, stop := startServe(t, "--config", path)
	defer stop()
	resp, err := http.Post(base+"/events", "application/x-www-form-urlencoded", strings.NewReader("topic=a&data=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("publish without the file's key: %d", resp.StatusCode)
	}
}

// TestCheck_store: herd check looks at the store (unless --offline): a
// bolt file record by record, a broker by contacting it; a damaged or
// unreachable store fails it in one line.
func TestCheck_store(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/good.db"
	base, stop := startServe(t, "--store", "bolt:"+good)
	resp, err := http.Post(base+"/events", "application/x-www-form-urlencoded", strings.NewReader("topic=a&data=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // and so the connection closes with the server
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %s", resp.Status)
	}
	if code, _, errOut := runCLI(t, t.Context(), nil, "check", "--store", "bolt:"+good); code != 1 || !strings.Contains(errOut, "in use by another process") {
		t.Errorf("check of a file in use: exit %d %q", code, errOut)
	}
	stop()
	damaged := dir + "/damaged.db"
	data, _ := os.ReadFile(good)
	os.WriteFile(damaged, data[:3*4096], 0o600)
	// One byte of the event's data flipped ("x" to "y"): the record still
	// parses, its checksum does not match. Its tail is one topic "a", then
	// the data.
	flipped := dir + "/flipped.db"
	i := bytes.Index(data, []byte("\x01\x01ax"))
	if i < 0 || bytes.Count(data, []byte("\x01\x01ax")) != 1 {
		t.Fatal("the event's record is not in the file once")
	}
	bad := bytes.Clone(data)
	bad[i+3] = 'y'
	os.WriteFile(flipped, bad, 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--store", "bolt:" + good}, 0, "# store: sound: 1 events (positions 1 to 1)"},
		{[]string{"--store", "bolt:" + dir + "/new.db"}, 0, "# store: no file yet (herd serve creates it in " + dir + ")"},
		{[]string{"--store", "bolt:" + dir + "/missing/new.db"}, 1, "the directory " + dir + "/missing does not exist, and herd serve creates only the file: create it (mkdir -p " + dir + "/missing)"},
		{[]string{"--store", "bolt:" + good + "/new.db"}, 1, "good.db/new.db: not a directory"},
		{[]string{"--store", "bolt:" + damaged}, 1, "is damaged (truncated: "},
		{[]string{"--store", "bolt:" + flipped}, 1, "1 of its 1 events are damaged, the first at position 1: checksum mismatch"},
		{[]string{"--store", "bolt:" + flipped}, 1, `at position 1, topics ["a"] (as read: the damage may be in them): checksum mismatch`},
		{[]string{"--store", "bolt:" + damaged, "--offline"}, 0, "# store: not looked at (--offline)"},
		{[]string{"--store", "memory"}, 0, "# store: in memory"},
		{[]string{"--store", "redis://127.0.0.1:1/0"}, 1, "store redis://127.0.0.1:1/0: redis:"},
		{[]string{"--store", "nats://127.0.0.1:1"}, 1, "store nats://127.0.0.1:1: nats:"},
	} {
		code, out, errOut := runCLI(t, t.Context(), nil, append([]string{"check"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) || (code != 0 && strings.Count(errOut, "\n") != 1) {
			t.Errorf("check %q: exit %d, stdout %.200q, stderr %q; want %d with %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
		if _, err := os.Stat(dir + "/new.db"); err == nil {
			t.Fatal("check created the store file")
		}
	}
	if _, err := os.Stat(good); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(good); !bytes.Equal(after, data) {
		t.Error("check changed the file")
	}
}
