// Command release builds herd's release artifacts: a static binary for
// every platform, each in an archive with the README, the SHA-256 sums of
// the archives, and a container build context. Run it in a clone at the
// commit to release, tagged vX.Y.Z (untagged, the version is Go's
// pseudo-version of the commit):
//
//	go run ./scripts/release -out dist
//
// Builds are reproducible: the same commit gives the same bytes, whatever
// the machine's paths and clock. The binaries are built with -trimpath
// and no cgo, VCS stamping on (herd version reads it), no build id; the
// archives' entries carry the commit's time, owner root, fixed modes.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Targets are the platforms herd is released for.
var Targets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "freebsd/amd64"}

func main() {
	out := flag.String("out", "dist", "directory to write the artifacts to (emptied first)")
	targets := flag.String("targets", strings.Join(Targets, ","), "comma-separated GOOS/GOARCH pairs")
	proxy := flag.String("module-proxy", "", "also write the modules, as the Go proxy will serve them, into this directory (GOPROXY=file://DIR)")
	version := flag.String("module-version", "", "the version to give the modules with -module-proxy, like v0.1.0")
	flag.Parse()
	err := release(".", *out, strings.Split(*targets, ","))
	if err == nil && *proxy != "" {
		if !semver(*version) {
			err = fmt.Errorf("-module-version %q: want a version like v0.1.0", *version)
		} else {
			err = moduleProxy(".", *proxy, *version, time.Now().UTC())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func semver(v string) bool {
	return strings.HasPrefix(v, "v") && strings.Count(v, ".") >= 2
}

// An artifact is one built file and its name in the release.
type artifact struct {
	name string
	data []byte
}

// release builds the artifacts of the module at root into out.
func release(root, out string, targets []string) error {
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return err
	}
	var sums []string
	for _, target := range targets {
		goos, goarch, ok := strings.Cut(target, "/")
		if !ok {
			return fmt.Errorf("target %q: want GOOS/GOARCH", target)
		}
		bin, err := build(root, goos, goarch)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		info, err := buildinfo.Read(bytes.NewReader(bin))
		if err != nil {
			return fmt.Errorf("%s: the binary has no build info: %w", target, err)
		}
		version, when := info.Main.Version, commitTime(info)
		if strings.HasSuffix(version, "+dirty") {
			fmt.Fprintf(os.Stderr, "release: building from a working tree with uncommitted changes: %s\n", version)
		}
		exe := "herd"
		if goos == "windows" {
			exe += ".exe"
		}
		dir := fmt.Sprintf("herd_%s_%s_%s", version, goos, goarch)
		files := []artifact{{exe, bin}, {"README.md", readme}}
		var a artifact
		if goos == "windows" {
			a, err = zipArchive(dir+".zip", dir, files, when)
		} else {
			a, err = tarArchive(dir+".tar.gz", dir, files, when)
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, a.name), a.data, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(a.data)
		sums = append(sums, hex.EncodeToString(sum[:])+"  "+a.name+"\n")
		if target == "linux/amd64" {
			if err := containerContext(root, filepath.Join(out, "container"), bin); err != nil {
				return err
			}
		}
	}
	slices.Sort(sums)
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(strings.Join(sums, "")), 0o644)
}

// build compiles cmd/herd for a platform, static and reproducible.
func build(root, goos, goarch string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "herd-release")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "herd")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=true", "-ldflags=-s -w -buildid=", "-o", bin, "./cmd/herd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=", "GOWORK=off") // go.mod alone: go.work is for working in a clone
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return os.ReadFile(bin)
}

// commitTime is the time of the commit the binary was built from: the
// one time a reproducible build may carry.
func commitTime(info *buildinfo.BuildInfo) time.Time {
	for _, s := range info.Settings {
		if s.Key == "vcs.time" {
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Unix(0, 0).UTC()
}

func mode(name string) int64 {
	if name == "herd" || name == "herd.exe" {
		return 0o755
	}
	return 0o644
}

// tarArchive packs files under dir into a gzipped tar, deterministically.
func tarArchive(name, dir string, files []artifact, when time.Time) (artifact, error) {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // no name, no time: the same bytes every time
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: dir + "/" + f.name, Mode: mode(f.name), Size: int64(len(f.data)), ModTime: when,
			Typeflag: tar.TypeReg, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		if err := tw.WriteHeader(hdr); err != nil {
			return artifact{}, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return artifact{}, err
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return artifact{}, err
	}
	return artifact{name, buf.Bytes()}, nil
}

// zipArchive packs files under dir into a zip, deterministically.
func zipArchive(name, dir string, files []artifact, when time.Time) (artifact, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		hdr := &zip.FileHeader{Name: dir + "/" + f.name, Method: zip.Deflate, Modified: when}
		hdr.SetMode(os.FileMode(mode(f.name)))
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return artifact{}, err
		}
		if _, err := w.Write(f.data); err != nil {
			return artifact{}, err
		}
	}
	if err := zw.Close(); err != nil {
		return artifact{}, err
	}
	return artifact{name, buf.Bytes()}, nil
}

// containerContext writes a container build context: the Containerfile,
// the linux/amd64 binary and, from this machine, the CA certificates that
// herd needs to reach a broker over TLS from an otherwise empty image.
func containerContext(root, dir string, bin []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file, err := os.ReadFile(filepath.Join(root, "deploy", "container", "Containerfile"))
	if err != nil {
		return err
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return fmt.Errorf("the container needs this machine's CA certificates: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"Containerfile": file, "herd": bin, "ca-certificates.crt": certs,
		"data/README": []byte("herd keeps its history here (herd.db): mount a volume on /data.\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, os.FileMode(mode(name))); err != nil {
			return err
		}
	}
	return nil
}
