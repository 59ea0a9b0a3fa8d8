package herd

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// EpochIDs formats positions as "<epoch>-<position>". Stores whose
// positions start over when the store is recreated (a new process for
// memory, a new file for bolt) pick a new random epoch each time, so that
// an id from an earlier incarnation is unknown instead of mistaken for a
// new event.
type EpochIDs string

// NewEpoch returns a random epoch.
func NewEpoch() EpochIDs {
	return EpochIDs(strconv.FormatUint(rand.Uint64()>>24, 36))
}

// ID formats p.
func (e EpochIDs) ID(p Pos) string {
	return string(e) + "-" + strconv.FormatUint(uint64(p), 10)
}

// ParseID parses an id made by ID with the same epoch.
func (e EpochIDs) ParseID(id string) (Pos, error) {
	epoch, seq, ok := strings.Cut(id, "-")
	if !ok || epoch != string(e) || seq == "" || seq[0] == '+' || seq[0] == '0' {
		return 0, ErrUnknownID
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return 0, ErrUnknownID
	}
	return Pos(n), nil
}
