//go:build integration

package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReproducible releases the committed tree twice, from two clones in
// different directories: every artifact must come out byte for byte the
// same, stamped with the commit.
func TestReproducible(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("not in a git clone: %v", err)
	}
	head, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	commit := strings.TrimSpace(string(head))
	targets := []string{"linux/amd64", "windows/amd64", "darwin/arm64"}
	var outs []string
	for i := range 2 {
		clone := filepath.Join(t.TempDir(), "herd"+strings.Repeat("-elsewhere", i))
		if out, err := exec.Command("git", "clone", "-q", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		out := filepath.Join(t.TempDir(), "dist")
		if err := release(clone, out, targets); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out)
	}
	names := list(t, outs[0])
	if !slices.Equal(names, list(t, outs[1])) || len(names) != len(targets)+2 {
		t.Fatalf("artifacts %v and %v", names, list(t, outs[1]))
	}
	for _, name := range names {
		a, _ := os.ReadFile(filepath.Join(outs[0], name))
		b, _ := os.ReadFile(filepath.Join(outs[1], name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the two releases", name)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(outs[0], "SHA256SUMS"))
	if n := strings.Count(string(sums), "\n"); n != len(targets) {
		t.Errorf("SHA256SUMS has %d lines:\n%s", n, sums)
	}

	// What a user unpacks: the binary, stamped with the commit, and the
	// README, in a directory named for the version and platform.
	for _, name := range names {
		var files map[string][]byte
		switch {
		case strings.HasSuffix(name, ".tar.gz"):
			files = untar(t, filepath.Join(outs[0], name))
		case strings.HasSuffix(name, ".zip"):
			files = unzip(t, filepath.Join(outs[0], name))
		default:
			continue
		}
		dir := strings.TrimSuffix(strings.TrimSuffix(name, ".tar.gz"), ".zip")
		exe := dir + "/herd"
		if strings.Contains(name, "windows") {
			exe += ".exe"
		}
		if len(files) != 2 || files[dir+"/README.md"] == nil || files[exe] == nil {
			t.Errorf("%s holds %v", name, slices.Sorted(maps.Keys(files)))
			continue
		}
		info, err := buildinfo.Read(bytes.NewReader(files[exe]))
		if err != nil {
			t.Errorf("%s: %v", exe, err)
			continue
		}
		stamped := map[string]string{}
		for _, s := range info.Settings {
			stamped[s.Key] = s.Value
		}
		if stamped["vcs.revision"] != commit || stamped["vcs.modified"] != "false" || stamped["CGO_ENABLED"] != "0" ||
			!strings.Contains(name, info.Main.Version) || !strings.Contains(info.Main.Version, commit[:12]) && !strings.HasPrefix(info.Main.Version, "v") {
			t.Errorf("%s: version %s, settings %v", exe, info.Main.Version, stamped)
		}
	}
	// The linux/amd64 binary runs here, and says what it is.
	bin := filepath.Join(outs[0], "container", "herd")
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(out), "commit "+commit[:12]) {
		t.Errorf("herd version: %q, %v", out, err)
	}
}

func list(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func untar(t *testing.T, path string) map[string][]byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || (strings.HasSuffix(hdr.Name, "/herd") && hdr.Mode != 0o755) {
			t.Errorf("%s: owner %d:%d mode %o", hdr.Name, hdr.Uid, hdr.Gid, hdr.Mode)
		}
		files[hdr.Name], _ = io.ReadAll(tr)
	}
}

func unzip(t *testing.T, path string) map[string][]byte {
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	files := map[string][]byte{}
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return files
}

// TestGoInstall publishes the committed tree's modules at v0.1.0 into a
// module proxy on disk, standing in for proxy.golang.org once the tags
// are pushed, and installs herd from it as the README's first command
// does, from outside any module: herd@latest resolves, builds and says
// its version. A module that requires only sse gets sse alone.
func TestGoInstall(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("not in a git clone: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "herd")
	if out, err := exec.Command("git", "clone", "-q", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	proxy := t.TempDir()
	if err := moduleProxy(clone, proxy, "v0.1.0", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	upstream, _ := exec.Command("go", "env", "GOPROXY").Output()
	bin, home := t.TempDir(), t.TempDir()
	goCmd := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=file://"+proxy+","+strings.TrimSpace(string(upstream)), "GONOSUMDB=github.com/herd-sse",
			"GOFLAGS=", "GOWORK=off", "GOBIN="+bin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	goCmd(home, "install", "github.com/herd-sse/herd/cmd/herd@latest")
	out, err := exec.Command(filepath.Join(bin, "herd"), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "herd v0.1.0 ") {
		t.Errorf("the installed herd says %q, %v", out, err)
	}

	app := t.TempDir()
	goCmd(app, "mod", "init", "example.com/app")
	os.WriteFile(filepath.Join(app, "main.go"), []byte("package main\n\nimport _ \"github.com/herd-sse/herd/sse\"\n\nfunc main() {}\n"), 0o644)
	goCmd(app, "get", "github.com/herd-sse/herd/sse@latest")
	goCmd(app, "build", "./...")
	mod, _ := os.ReadFile(filepath.Join(app, "go.mod"))
	sum, _ := os.ReadFile(filepath.Join(app, "go.sum"))
	if strings.Count(string(mod), "require") != 1 || !strings.Contains(string(mod), "github.com/herd-sse/herd/sse v0.1.0") ||
		strings.Count(string(sum), "\n") != 2 {
		t.Errorf("an app using sse alone:\ngo.mod:\n%s\ngo.sum:\n%s", mod, sum)
	}
}
