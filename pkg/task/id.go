package task

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// An ID names a task and locates it: it carries the due time (ms since the
// Unix epoch, 48 bits) and the shard the task was written to (16 bits) ahead
// of 64 random bits. From an ID alone the store computes the partition and
// sort key, so reading a task is one GetItem — no scan and no index — as with
// Dynein's job tokens. Because the shard is written into the ID, growing the
// shard count never moves an existing task.
//
// The text form is 26 characters of lower-case base32hex (0-9a-v), which sorts
// in due-time order.
type ID struct {
	DueMs  int64
	Shard  uint16
	Random uint64
}

const (
	idBytes  = 16
	idLen    = 26
	maxDueMs = 1<<48 - 1
)

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// ErrBadID is returned by ParseID for text that is not a task ID.
var ErrBadID = errors.New("not a task ID")

// NewID returns a fresh ID for a task due at due (truncated to ms) on a shard
// chosen from the random bits modulo shards.
func NewID(due time.Time, shards int) (ID, error) {
	if shards < 1 || shards > 1<<16 {
		return ID{}, fmt.Errorf("new task ID: shard count %d out of range 1-65536", shards)
	}
	ms := due.UnixMilli()
	if ms < 0 || ms > maxDueMs {
		return ID{}, fmt.Errorf("new task ID: due time %s out of range", due.UTC().Format(time.RFC3339))
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return ID{}, fmt.Errorf("new task ID: read random bits: %w", err)
	}
	r := binary.BigEndian.Uint64(b[:])
	// The shard comes from the random bits (mixed, so the low bits of r stay
	// independent of it): hash(ID) mod N, spreading writes evenly.
	shard := uint16(mix64(r) % uint64(shards))
	return ID{DueMs: ms, Shard: shard, Random: r}, nil
}

// mix64 is the SplitMix64 finaliser: cheap, well distributed.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// String encodes the ID.
func (id ID) String() string {
	var b [idBytes]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(id.DueMs)<<16|uint64(id.Shard))
	binary.BigEndian.PutUint64(b[8:16], id.Random)
	return idEncoding.EncodeToString(b[:])
}

// Due is the due time the ID was created with (the task's home partition).
func (id ID) Due() time.Time { return time.UnixMilli(id.DueMs).UTC() }

// ParseID decodes an ID's text form. It accepts exactly what String produces.
func ParseID(s string) (ID, error) {
	if len(s) != idLen || strings.ToLower(s) != s {
		return ID{}, ErrBadID
	}
	b, err := idEncoding.DecodeString(s)
	if err != nil || len(b) != idBytes {
		return ID{}, ErrBadID
	}
	hi := binary.BigEndian.Uint64(b[0:8])
	id := ID{DueMs: int64(hi >> 16), Shard: uint16(hi), Random: binary.BigEndian.Uint64(b[8:16])}
	// Reject non-canonical spellings (26 base32 chars carry 130 bits; the
	// last two must be zero) so that one task has exactly one ID text.
	if id.String() != s {
		return ID{}, ErrBadID
	}
	return id, nil
}

// DerivedID returns the ID of a task due at due whose random bits come from
// a hash of seed instead of the random source, with the shard derived from
// them as in NewID. The same (due, seed, shards) always gives the same ID,
// so two writers creating "the same" task (for example the next occurrence
// of a schedule, chained twice by a duplicate dispatch) collide on one item.
func DerivedID(due time.Time, shards int, seed []byte) (ID, error) {
	if shards < 1 || shards > 1<<16 {
		return ID{}, fmt.Errorf("derived task ID: shard count %d out of range 1-65536", shards)
	}
	ms := due.UnixMilli()
	if ms < 0 || ms > maxDueMs {
		return ID{}, fmt.Errorf("derived task ID: due time %s out of range", due.UTC().Format(time.RFC3339))
	}
	sum := sha256.Sum256(seed)
	r := binary.BigEndian.Uint64(sum[:8])
	return ID{DueMs: ms, Shard: uint16(mix64(r) % uint64(shards)), Random: r}, nil
}
