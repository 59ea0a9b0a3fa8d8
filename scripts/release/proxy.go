package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// The modules a release publishes: the sse library first (herd requires
// it), then herd.
const (
	sseModule  = "github.com/herd-sse/herd/sse"
	herdModule = "github.com/herd-sse/herd"
)

// moduleProxy writes, into dir, the two modules of the tree at root as a
// Go module proxy serves them at version (GOPROXY=file://dir): what the
// Go proxy will serve once the tags sse/<version> and <version> are
// pushed. herd's go.mod there requires sse at version with no replace
// directive: go install github.com/herd-sse/herd/cmd/herd@<version>
// refuses a module that has one. Releasing means tagging exactly that.
func moduleProxy(root, dir, version string, when time.Time) error {
	sseZip, sseMod, err := moduleZip(filepath.Join(root, "sse"), sseModule, version, nil)
	if err != nil {
		return err
	}
	zipHash, err := dirhash.HashZip(sseZip.name, dirhash.Hash1)
	if err != nil {
		return err
	}
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(sseMod)), nil
	})
	if err != nil {
		return err
	}
	if err := publish(dir, sseModule, version, when, sseMod, sseZip); err != nil {
		return err
	}
	// herd's go.mod and go.sum as released: sse by version, with its sums.
	modBytes, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	mf, err := modfile.Parse("go.mod", modBytes, nil)
	if err != nil {
		return err
	}
	if err := mf.DropReplace(sseModule, ""); err != nil {
		return err
	}
	if err := mf.AddRequire(sseModule, version); err != nil {
		return err
	}
	released, err := mf.Format()
	if err != nil {
		return err
	}
	sums, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return err
	}
	sums = fmt.Appendf(sums, "%s %s %s\n%s %s/go.mod %s\n", sseModule, version, zipHash, sseModule, version, modHash)
	herdZip, _, err := moduleZip(root, herdModule, version, map[string][]byte{"go.mod": released, "go.sum": sums})
	if err != nil {
		return err
	}
	return publish(dir, herdModule, version, when, released, herdZip)
}

// A builtZip is a module zip written to a temporary file.
type builtZip struct{ name string }

// moduleZip zips the module in dir as the go command would, with some
// files' contents replaced, and returns it with its go.mod.
func moduleZip(dir, path, version string, replaced map[string][]byte) (builtZip, []byte, error) {
	var files []modzip.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			if rel != "." && fileExists(filepath.Join(p, "go.mod")) {
				return filepath.SkipDir // another module
			}
			return nil
		}
		files = append(files, file{rel: filepath.ToSlash(rel), abs: p, data: replaced[filepath.ToSlash(rel)]})
		return nil
	})
	if err != nil {
		return builtZip{}, nil, err
	}
	f, err := os.CreateTemp("", "herd-module-*.zip")
	if err != nil {
		return builtZip{}, nil, err
	}
	defer f.Close()
	if err := modzip.Create(f, module.Version{Path: path, Version: version}, files); err != nil {
		return builtZip{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	mod := replaced["go.mod"]
	if mod == nil {
		if mod, err = os.ReadFile(filepath.Join(dir, "go.mod")); err != nil {
			return builtZip{}, nil, err
		}
	}
	return builtZip{f.Name()}, mod, nil
}

// publish writes a module version in the proxy layout.
func publish(dir, path, version string, when time.Time, mod []byte, z builtZip) error {
	defer os.Remove(z.name)
	at := filepath.Join(dir, path, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	zipData, err := os.ReadFile(z.name)
	if err != nil {
		return err
	}
	info, _ := json.Marshal(struct{ Version, Time string }{version, when.Format(time.RFC3339)})
	for name, data := range map[string][]byte{"list": []byte(version + "\n"), version + ".info": info,
		version + ".mod": mod, version + ".zip": zipData} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// file is a modzip.File from disk, or with replaced contents.
type file struct {
	rel, abs string
	data     []byte // if not nil, the contents instead of the file's
}

func (f file) Path() string { return f.rel }

func (f file) Lstat() (os.FileInfo, error) {
	fi, err := os.Lstat(f.abs)
	if err != nil || f.data == nil {
		return fi, err
	}
	return sized{fi, int64(len(f.data))}, nil
}

func (f file) Open() (io.ReadCloser, error) {
	if f.data != nil {
		return io.NopCloser(bytes.NewReader(f.data)), nil
	}
	return os.Open(f.abs)
}

type sized struct {
	os.FileInfo
	size int64
}

func (s sized) Size() int64 { return s.size }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
