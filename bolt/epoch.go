package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	bbolt "go.etcd.io/bbolt"

	"github.com/herd-sse/herd"
)

// The meta bucket's epoch is the part of every event id before its
// position. A flipped byte in it would give every event a new id, so that
// every resuming subscriber got a gap and the whole history again; one in
// its key would make Open mint a new epoch, with the same effect. So the
// epoch carries a CRC-32C (metaEpochSum, written by Open when missing,
// as in files written before it) and its form is checked: a damaged
// epoch is found by Open and by herd check rather than served.
var (
	metaEpoch    = []byte("epoch")
	metaEpochSum = []byte("epochsum")
)

// epochSum is the checksum metaEpochSum holds for epoch.
func epochSum(epoch []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.Checksum(epoch, castagnoli))
}

// readEpoch returns the file's epoch, verified, or "" for a file that has
// none yet (whose log holds no event).
func readEpoch(tx *bbolt.Tx) (herd.EpochIDs, error) {
	meta := tx.Bucket(bucketMeta)
	epoch := meta.Get(metaEpoch)
	if epoch == nil {
		if tx.Bucket(bucketLog).Sequence() > 0 {
			return "", errors.New("the epoch of the event ids is missing, though events were written")
		}
		return "", nil
	}
	if !validEpoch(epoch) {
		return "", fmt.Errorf("the epoch of the event ids, %.20q, is not one herd writes", epoch)
	}
	if sum := meta.Get(metaEpochSum); sum != nil && string(sum) != string(epochSum(epoch)) {
		return "", fmt.Errorf("the epoch of the event ids, %q, fails its checksum", epoch)
	}
	return herd.EpochIDs(epoch), nil
}

// validEpoch reports whether epoch has the form hub.NewEpoch gives: 40
// random bits in base 36, lower case.
func validEpoch(epoch []byte) bool {
	if len(epoch) == 0 || len(epoch) > 8 {
		return false
	}
	for _, c := range epoch {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// checkMeta checks one record of the meta bucket: herd writes only these
// keys, positions as 8 bytes.
func checkMeta(k, v []byte) error {
	switch string(k) {
	case string(metaEpoch), string(metaEpochSum):
		return nil // readEpoch checks them together
	case "trimmed", string(metaChecksums):
		if len(v) != 8 {
			return fmt.Errorf("a malformed %q record", k)
		}
		return nil
	case string(writeCheckKey):
		return nil // left by a write check cut short
	}
	return fmt.Errorf("a record herd never writes (%.20q)", k)
}
