package cli

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The flag table of docs/configuration.md lists every herd serve flag,
// once, with its default as herd has it: the page cannot drift from the
// code.
func TestDocs_flagTable(t *testing.T) {
	page, err := os.ReadFile(filepath.Join(sourceDir, "../../docs/configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(page), "\n## Flags\n")
	if !ok {
		t.Fatal("docs/configuration.md has no ## Flags section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("^\\| (`--[a-z0-9-]+`(?:, `--[a-z0-9-]+`)*) \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, name := range strings.Split(m[1], ", ") {
			name = strings.Trim(name, "`-")
			if _, dup := documented[name]; dup {
				t.Errorf("--%s is listed twice", name)
			}
			documented[name] = strings.TrimSpace(m[2])
		}
	}
	fs, _, _ := newServeFlagSet("serve", serveSynopsis, IO{})
	fs.VisitAll(func(f *flag.Flag) {
		doc, ok := documented[f.Name]
		if !ok {
			t.Errorf("--%s is missing from the table", f.Name)
			return
		}
		delete(documented, f.Name)
		if !sameDefault(f, doc) {
			t.Errorf("--%s: the table says the default is %q, herd has %q", f.Name, doc, f.DefValue)
		}
	})
	for name := range documented {
		t.Errorf("the table lists --%s, which herd serve does not have", name)
	}
}

// sameDefault reports whether a table's default column says what the flag
// defaults to: "none", "off" and "0 (…)" for zero values, "on" for true,
// durations and sizes in any spelling.
func sameDefault(f *flag.Flag, doc string) bool {
	doc = strings.Trim(doc, "`")
	if i := strings.Index(doc, " ("); i > 0 {
		doc = doc[:i]
	}
	def := f.DefValue
	switch doc {
	case "none", "off":
		return def == "" || def == "false" || def == "0"
	case "on":
		return def == "true"
	}
	if d, err := time.ParseDuration(doc); err == nil {
		fd, err := time.ParseDuration(def)
		return err == nil && d == fd
	}
	var docSize, defSize byteSize
	if docSize.Set(doc) == nil && defSize.Set(def) == nil {
		return docSize == defSize
	}
	return doc == def
}
