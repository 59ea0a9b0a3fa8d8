//go:build linux && integration

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDocLinks follows every relative link of every Markdown file: the
// file must exist and, for a link to a heading (page.md#heading or
// #heading), the heading must too, spelled as GitHub makes its anchors.
func TestDocLinks(t *testing.T) {
	root := repoRoot(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "-co", "--exclude-standard", "-z", "*.md").Output()
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := map[string]map[string]bool{}
	checked := 0
	for _, name := range bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0}) {
		page := string(name)
		text, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			continue // deleted in the working tree
		}
		for i, line := range strings.Split(withoutCode(string(text)), "\n") {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				file, anchor, _ := strings.Cut(target, "#")
				path := filepath.Join(root, filepath.Dir(page), file)
				if file == "" {
					path = filepath.Join(root, page)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: %s: no such file", page, i+1, target)
					continue
				}
				if anchor == "" || !strings.HasSuffix(path, ".md") {
					continue
				}
				if anchors[path] == nil {
					anchors[path] = headingAnchors(t, path)
				}
				if !anchors[path][anchor] {
					t.Errorf("%s:%d: %s: no heading with that anchor", page, i+1, target)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found: the pattern is wrong")
	}
	t.Logf("%d relative links checked", checked)
}

// withoutCode blanks fenced blocks, keeping the line count.
func withoutCode(text string) string {
	lines := strings.Split(text, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			in = !in
			lines[i] = ""
		} else if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// headingAnchors returns a page's heading anchors as GitHub makes them:
// lower case, punctuation dropped, spaces to hyphens, -1, -2… on repeats.
func headingAnchors(t *testing.T, path string) map[string]bool {
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
	seen := map[string]int{}
	anchors := map[string]bool{}
	for _, line := range strings.Split(withoutCode(string(text)), "\n") {
		h := strings.TrimLeft(line, "#")
		if h == line || !strings.HasPrefix(h, " ") {
			continue
		}
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// TestDocGoBlocks checks that the Go shown in the docs is Go that builds
// and runs: every go block names the file it is taken from (```go
// from=PATH), a file the tests compile, and appears there verbatim.
func TestDocGoBlocks(t *testing.T) {
	root := repoRoot(t)
	shown := 0
	for _, page := range docPages(t) {
		text, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range parseBlocks(t, page, string(text)) {
			if b.lang != "go" {
				continue
			}
			shown++
			from, ok := strings.CutPrefix(b.attrs, "from=")
			if !ok {
				t.Errorf("%s:%d: a go block must say which file it is from: ```go from=PATH", page, b.line)
				continue
			}
			src, err := os.ReadFile(filepath.Join(root, from))
			if err != nil {
				t.Errorf("%s:%d: %v", page, b.line, err)
				continue
			}
			if !strings.Contains(string(src), b.text) {
				t.Errorf("%s:%d: this block is not in %s as shown: copy it again from there\n%s", page, b.line, from, b.text)
			}
		}
	}
	if shown == 0 {
		t.Fatal("no go block found")
	}
}
