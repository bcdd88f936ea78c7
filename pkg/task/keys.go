package task

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Layout maps due times to the table's time buckets. The bucket width is fixed
// for the life of a table: partitions are named by their bucket's start, so a
// changed width would orphan the partitions already written.
type Layout struct {
	Bucket time.Duration
}

// Validate reports a layout that cannot be used.
func (l Layout) Validate() error {
	if l.Bucket < time.Second || l.Bucket%time.Second != 0 {
		return fmt.Errorf("bucket width %s must be a whole number of seconds ≥ 1s", l.Bucket)
	}
	return nil
}

// BucketOf returns the start of the bucket holding due time t, in Unix seconds.
func (l Layout) BucketOf(t time.Time) int64 {
	w := int64(l.Bucket / time.Second)
	s := t.Unix() // floor, also before 1970
	q := s / w
	if s%w < 0 {
		q--
	}
	return q * w
}

// NextBucket returns the start of the bucket after b.
func (l Layout) NextBucket(b int64) int64 { return b + int64(l.Bucket/time.Second) }

// PartitionKey is the partition of one (bucket, shard) unit: "<bucket start>#<shard>".
func PartitionKey(bucket int64, shard uint16) string {
	return strconv.FormatInt(bucket, 10) + "#" + strconv.FormatUint(uint64(shard), 10)
}

// ParsePartitionKey is the inverse of PartitionKey.
func ParsePartitionKey(pk string) (bucket int64, shard uint16, err error) {
	b, s, ok := strings.Cut(pk, "#")
	if !ok {
		return 0, 0, fmt.Errorf("partition key %q: missing '#'", pk)
	}
	bucket, err = strconv.ParseInt(b, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("partition key %q: bucket: %w", pk, err)
	}
	sh, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, 0, fmt.Errorf("partition key %q: shard: %w", pk, err)
	}
	return bucket, uint16(sh), nil
}

// SortKey orders a partition by due time: "<due ms, 15 digits>#<id>". Fifteen
// digits hold every due time an ID can carry (48 bits), so the text sorts like
// the number.
func SortKey(dueMs int64, id string) string {
	return fmt.Sprintf("%015d#%s", dueMs, id)
}

// Key is the primary key of a task item.
type Key struct {
	PK, SK string
}

// KeyOf computes a task's item key from its ID alone.
func (l Layout) KeyOf(id ID) Key {
	return Key{
		PK: PartitionKey(l.BucketOf(id.Due()), id.Shard),
		SK: SortKey(id.DueMs, id.String()),
	}
}
