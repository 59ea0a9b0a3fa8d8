package bolt

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestEpoch_damaged: a flipped byte in the epoch of the event ids (its
// value, its key, its checksum) is found by herd check and by Open, never
// served: it would give every event a new id, and every resuming
// subscriber a gap and the whole history again. Before the epoch carried
// a checksum, check called such a file sound and the hub re-served it.
func TestEpoch_damaged(t *testing.T) {
	path, events := checksumStore(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	epoch, _, _ := strings.Cut(events[0].ID, "-")
	other := []byte(epoch)
	other[len(other)-1] ^= 1 // another epoch of herd's form: 'a' and '`' aside, a letter or digit
	if !validEpoch(other) {
		other[len(other)-1] = '0'
	}
	sum := epochSum([]byte(epoch))
	flippedSum := bytes.Clone(sum)
	flippedSum[0] ^= 0x10
	for _, tc := range []struct {
		name     string
		from, to string
		want     string
	}{
		{"value", "epoch" + epoch, "epoch" + string(other), "fails its checksum"},
		{"value out of form", "epoch" + epoch, "epoch" + strings.ToUpper(epoch[:1]) + epoch[1:], "not one herd writes"},
		{"key", "epoch" + epoch, "epocH" + epoch, "epoch of the event ids is missing"},
		{"checksum", "epochsum" + string(sum), "epochsum" + string(flippedSum), "fails its checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.ToUpper(epoch[:1]) == epoch[:1] && tc.name == "value out of form" {
				t.Logf("the epoch %q starts with a digit: a ':' instead", epoch)
				tc.to = "epoch:" + epoch[1:]
			}
			file := bytes.Clone(orig)
			if n := bytes.Count(file, []byte(tc.from)); n == 0 {
				t.Fatalf("%q is not in the file", tc.from)
			}
			file = bytes.ReplaceAll(file, []byte(tc.from), []byte(tc.to))
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
			var damaged *DamagedError
			if _, err := Check(path); !errors.As(err, &damaged) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: %v, want a damaged file: %s", err, tc.want)
			}
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
			}
			if !errors.As(err, &damaged) {
				t.Errorf("Open: %v, want a damaged file", err)
			}
		})
	}

	// The file as written is sound, and keeps its ids.
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(path); err != nil {
		t.Fatal(err)
	}
}
