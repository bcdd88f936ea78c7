package task

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLayoutValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		bucket time.Duration
		ok     bool
	}{
		{time.Second, true},
		{time.Minute, true},
		{90 * time.Second, true},
		{0, false},
		{-time.Minute, false},
		{999 * time.Millisecond, false},
		{1500 * time.Millisecond, false},
	} {
		err := Layout{Bucket: tc.bucket}.Validate()
		if tc.ok {
			assert.NoError(t, err, "%s", tc.bucket)
		} else {
			assert.Error(t, err, "%s", tc.bucket)
		}
	}
}

func TestBucketOf(t *testing.T) {
	t.Parallel()
	minute := Layout{Bucket: time.Minute}
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	for _, tc := range []struct {
		name   string
		layout Layout
		t      time.Time
		want   int64
	}{
		{"epoch", minute, at(0), 0},
		{"exact bucket start", minute, at(120_000), 120},
		{"1 ms before a bucket start", minute, at(119_999), 60},
		{"1 ms after a bucket start", minute, at(120_001), 120},
		{"1 ns before a bucket start", minute, time.Unix(120, 0).Add(-time.Nanosecond), 60},
		{"1 ms before epoch", minute, at(-1), -60},
		{"exact negative bucket start", minute, at(-60_000), -60},
		{"1 ms before a negative bucket start", minute, at(-60_001), -120},
		{"zone does not matter", minute, time.Date(2030, 1, 1, 1, 0, 30, 0, time.FixedZone("x", 3600)), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()},
		{"one-second buckets", Layout{Bucket: time.Second}, at(1_999), 1},
		{"one-second buckets, negative", Layout{Bucket: time.Second}, at(-1), -1},
		{"odd width", Layout{Bucket: 7 * time.Second}, at(20_000), 14},
		{"odd width, negative", Layout{Bucket: 7 * time.Second}, at(-20_000), -21},
		{"max due", minute, at(maxDueMs), (maxDueMs / 1000) / 60 * 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.layout.BucketOf(tc.t)
			assert.Equal(t, tc.want, got)
			// Invariant: start ≤ t < next start.
			w := int64(tc.layout.Bucket / time.Second)
			assert.Zero(t, ((got%w)+w)%w, "bucket start is a multiple of the width")
			assert.False(t, tc.t.Before(time.Unix(got, 0)))
			assert.True(t, tc.t.Before(time.Unix(tc.layout.NextBucket(got), 0)))
		})
	}
}

func TestNextBucket(t *testing.T) {
	t.Parallel()
	l := Layout{Bucket: time.Minute}
	assert.Equal(t, int64(180), l.NextBucket(120))
	assert.Equal(t, int64(0), l.NextBucket(-60))
	b := l.BucketOf(time.Unix(1_900_000_000, 0))
	assert.Equal(t, l.BucketOf(time.Unix(b, 0).Add(time.Minute)), l.NextBucket(b))
	assert.Equal(t, int64(1_000_010), Layout{Bucket: 10 * time.Second}.NextBucket(1_000_000))
}

func TestPartitionKeyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		bucket int64
		shard  uint16
		want   string
	}{
		{0, 0, "0#0"},
		{1_893_456_000, 7, "1893456000#7"},
		{-60, 1, "-60#1"},
		{math.MaxInt64, math.MaxUint16, "9223372036854775807#65535"},
		{math.MinInt64, 0, "-9223372036854775808#0"},
	} {
		pk := PartitionKey(tc.bucket, tc.shard)
		assert.Equal(t, tc.want, pk)
		b, s, err := ParsePartitionKey(pk)
		require.NoError(t, err, pk)
		assert.Equal(t, tc.bucket, b)
		assert.Equal(t, tc.shard, s)
	}
}

func TestParsePartitionKeyRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, errPart string
	}{
		{"", "missing '#'"},
		{"1893456000", "missing '#'"},
		{"#3", "bucket"},
		{"abc#3", "bucket"},
		{"1.5#3", "bucket"},
		{"99999999999999999999#3", "bucket"},
		{"60#", "shard"},
		{"60#x", "shard"},
		{"60#-1", "shard"},
		{"60#65536", "shard"},
		{"60#1#2", "shard"},
		{"60# 1", "shard"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			b, s, err := ParsePartitionKey(tc.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.errPart)
			assert.Contains(t, err.Error(), tc.in, "the error quotes the key")
			assert.Zero(t, b)
			assert.Zero(t, s)
		})
	}
}

func TestSortKey(t *testing.T) {
	t.Parallel()
	id := validID(t)
	assert.Equal(t, "000000000000042#"+id, SortKey(42, id))
	assert.Equal(t, "001893456000123#"+id, SortKey(1_893_456_000_123, id))
	assert.Equal(t, "281474976710655#"+id, SortKey(maxDueMs, id))
}

// Lexicographic order of sort keys must be due order over every due an ID can
// carry, including across the 13→14-digit boundary (year 2286).
func TestSortKeyOrderMatchesDueOrder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	dues := []int64{0, 1, 9_999_999_999_999, 10_000_000_000_000, 99_999_999_999_999, 100_000_000_000_000, maxDueMs}
	for range 3000 {
		switch rng.IntN(3) {
		case 0:
			dues = append(dues, rng.Int64N(maxDueMs+1))
		case 1: // realistic range
			dues = append(dues, 1_700_000_000_000+rng.Int64N(1<<40))
		default: // random magnitude
			dues = append(dues, rng.Int64N(int64(1)<<rng.IntN(49)))
		}
	}
	type pair struct {
		due int64
		sk  string
	}
	ps := make([]pair, len(dues))
	for i, d := range dues {
		id := ID{DueMs: d, Random: rng.Uint64()}
		ps[i] = pair{d, SortKey(d, id.String())}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].sk < ps[j].sk })
	for i := 1; i < len(ps); i++ {
		require.LessOrEqual(t, ps[i-1].due, ps[i].due, "%s sorts before %s", ps[i-1].sk, ps[i].sk)
	}
}

func TestKeyOf(t *testing.T) {
	t.Parallel()
	for _, l := range []Layout{{Bucket: time.Second}, {Bucket: time.Minute}, {Bucket: 7 * time.Second}, {Bucket: time.Hour}} {
		for _, due := range []time.Time{
			time.UnixMilli(0),
			time.Date(2030, 1, 2, 15, 4, 5, 678_000_000, time.UTC),
			time.Date(2030, 1, 2, 15, 5, 0, 0, time.UTC), // exact minute start
			time.UnixMilli(maxDueMs),
		} {
			id, err := NewID(due, 32)
			require.NoError(t, err)

			// The key a writer computes from the due time and chosen shard ...
			want := Key{
				PK: PartitionKey(l.BucketOf(due), id.Shard),
				SK: SortKey(due.UnixMilli(), id.String()),
			}
			// ... equals the key a reader computes from the ID text alone.
			parsed, err := ParseID(id.String())
			require.NoError(t, err)
			assert.Equal(t, want, l.KeyOf(parsed), "layout %s due %s", l.Bucket, due)

			b, s, err := ParsePartitionKey(want.PK)
			require.NoError(t, err)
			assert.Equal(t, id.Shard, s)
			assert.Equal(t, l.BucketOf(due), b)
			assert.True(t, strings.HasSuffix(want.SK, "#"+id.String()))
		}
	}
}
