package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// A buildInfo is what the binary knows of its own build.
type buildInfo struct {
	Version  string // the module version: a tag, a pseudo-version, or (devel)
	Commit   string // the revision it was built from, if known
	Time     string // the commit's time (reproducible builds have no other)
	Modified bool   // built from a working tree with uncommitted changes
	Go       string
	Platform string
}

// readBuildInfo reads the build info Go embeds in every binary: the
// module version (set by go install pkg@version, or from the VCS tag when
// built in a clone) and the VCS stamps.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; v != "" {
		b.Version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func (b buildInfo) String() string {
	var details []string
	if b.Commit != "" {
		commit := "commit " + b.Commit[:min(12, len(b.Commit))]
		if b.Time != "" {
			commit += " of " + b.Time
		}
		details = append(details, commit)
	}
	if b.Modified {
		details = append(details, "with uncommitted changes")
	}
	s := "herd " + b.Version
	if len(details) > 0 {
		s += " (" + strings.Join(details, ", ") + ")"
	}
	return s + " " + b.Go + " " + b.Platform
}

// runVersion is herd version (and herd --version).
func runVersion(ctx context.Context, args []string, io IO) error {
	rest, err := parseArgs(newFlagSet("version", "", io), args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("herd version", "version takes no arguments")
	}
	_, err = fmt.Fprintln(io.Stdout, readBuildInfo())
	return err
}
