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

func TestNewIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		due    time.Time
		shards int
	}{
		{"epoch one shard", time.UnixMilli(0), 1},
		{"today sixteen shards", time.Date(2030, 1, 2, 15, 4, 5, 123_456_789, time.UTC), 16},
		{"non-UTC zone", time.Date(2030, 6, 1, 8, 0, 0, 0, time.FixedZone("x", -7*3600)), 7},
		{"max shards", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), 1 << 16},
		{"max due", time.UnixMilli(maxDueMs), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := NewID(tc.due, tc.shards)
			require.NoError(t, err)
			assert.Equal(t, tc.due.UnixMilli(), id.DueMs)
			assert.Less(t, int(id.Shard), tc.shards)
			assert.Equal(t, tc.due.Truncate(time.Millisecond).UTC(), id.Due())
			assert.Equal(t, time.UTC, id.Due().Location())

			s := id.String()
			require.Len(t, s, idLen)
			assert.Equal(t, strings.ToLower(s), s)
			got, err := ParseID(s)
			require.NoError(t, err)
			assert.Equal(t, id, got)
		})
	}
}

func TestNewIDIsRandom(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := make(map[string]bool)
	for range 1000 {
		id, err := NewID(due, 16)
		require.NoError(t, err)
		require.False(t, seen[id.String()], "duplicate ID %s", id)
		seen[id.String()] = true
	}
}

func TestNewIDRejects(t *testing.T) {
	t.Parallel()
	ok := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		due    time.Time
		shards int
	}{
		{"zero shards", ok, 0},
		{"negative shards", ok, -1},
		{"too many shards", ok, 1<<16 + 1},
		{"before epoch", time.UnixMilli(-1), 16},
		{"zero time", time.Time{}, 16},
		{"beyond 48 bits", time.UnixMilli(maxDueMs + 1), 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := NewID(tc.due, tc.shards)
			require.Error(t, err)
			assert.Equal(t, ID{}, id)
		})
	}
}

// validID is a fixed, canonical ID text used by the rejection tests.
func validID(t testing.TB) string {
	t.Helper()
	s := ID{DueMs: 1_893_456_000_123, Shard: 11, Random: 0x0123456789abcdef}.String()
	_, err := ParseID(s)
	require.NoError(t, err)
	return s
}

func TestParseIDRejects(t *testing.T) {
	t.Parallel()
	s := validID(t)
	withChar := func(i int, c byte) string { b := []byte(s); b[i] = c; return string(b) }
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"too short", s[:idLen-1]},
		{"too long", s + "0"},
		{"upper case", strings.ToUpper(s)},
		{"one upper-case letter", withChar(0, 'A')},
		{"w is outside base32hex", withChar(3, 'w')},
		{"z is outside base32hex", withChar(3, 'z')},
		{"dash", withChar(5, '-')},
		{"padding", withChar(idLen-1, '=')},
		{"newline (ignored by the base32 decoder)", withChar(10, '\n')},
		{"carriage return", withChar(10, '\r')},
		{"space", withChar(10, ' ')},
		{"non-ASCII", s[:idLen-2] + "é"},
		{"non-canonical trailing bits 01", withChar(idLen-1, '1')},
		{"non-canonical trailing bits 10", withChar(idLen-1, '2')},
		{"non-canonical trailing bits 11", withChar(idLen-1, 'v')},
		{"uuid", "123e4567-e89b-12d3-a456-426614174000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := ParseID(tc.in)
			require.ErrorIs(t, err, ErrBadID)
			assert.Equal(t, ID{}, id)
		})
	}
}

// The last character holds three data bits and two padding bits: exactly the
// eight characters whose padding bits are zero are canonical.
func TestParseIDLastCharacter(t *testing.T) {
	t.Parallel()
	s := validID(t)
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	var accepted []byte
	for i := range len(alphabet) {
		if _, err := ParseID(s[:idLen-1] + string(alphabet[i])); err == nil {
			accepted = append(accepted, alphabet[i])
		}
	}
	assert.Equal(t, "048cgkos", string(accepted))
}

func TestIDStringExtremes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   ID
		want string
	}{
		{ID{}, strings.Repeat("0", idLen)},
		{ID{DueMs: maxDueMs, Shard: math.MaxUint16, Random: math.MaxUint64}, strings.Repeat("v", idLen-1) + "s"},
	} {
		assert.Equal(t, tc.want, tc.id.String())
		got, err := ParseID(tc.want)
		require.NoError(t, err)
		assert.Equal(t, tc.id, got)
	}
}

func TestIDSortsInDueOrder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]ID, 5000)
	for i := range ids {
		ids[i] = ID{DueMs: rng.Int64N(maxDueMs + 1), Shard: uint16(rng.Uint32()), Random: rng.Uint64()}
		if i%10 == 1 { // same due, different shard / random
			ids[i].DueMs = ids[i-1].DueMs
		}
	}
	// Sort by text; the numeric order (due, shard, random) must follow.
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	for i := 1; i < len(ids); i++ {
		a, b := ids[i-1], ids[i]
		require.LessOrEqual(t, a.DueMs, b.DueMs, "%s sorts before %s", a, b)
		if a.DueMs == b.DueMs && a.Shard == b.Shard {
			require.Less(t, a.Random, b.Random)
		} else if a.DueMs == b.DueMs {
			require.Less(t, a.Shard, b.Shard)
		}
	}
}

func TestNewIDSortsInDueOrder(t *testing.T) {
	t.Parallel()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var prev string
	for i := range 2000 {
		id, err := NewID(base.Add(time.Duration(i)*time.Millisecond), 64)
		require.NoError(t, err)
		require.Less(t, prev, id.String())
		prev = id.String()
	}
}

// Shards must spread evenly: a loose chi-square bound over 100k IDs. With 15
// degrees of freedom the statistic averages 15; 100 has a probability far
// below 1e-12 for a uniform spread, so this does not flake.
func TestNewIDShardSpread(t *testing.T) {
	t.Parallel()
	const shards, n = 16, 100_000
	due := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var counts [shards]int
	for range n {
		id, err := NewID(due, shards)
		require.NoError(t, err)
		require.Less(t, int(id.Shard), shards)
		counts[id.Shard]++
	}
	const want = float64(n) / shards
	chi2 := 0.0
	for s, c := range counts {
		assert.InDelta(t, want, float64(c), want*0.1, "shard %d", s)
		chi2 += (float64(c) - want) * (float64(c) - want) / want
	}
	assert.Less(t, chi2, 100.0, "counts %v", counts)
}

// The shard is a function of the random bits, so a reader can trust it.
func TestNewIDShardFromRandom(t *testing.T) {
	t.Parallel()
	for _, shards := range []int{1, 2, 3, 16, 1000, 1 << 16} {
		id, err := NewID(time.UnixMilli(1), shards)
		require.NoError(t, err)
		assert.Equal(t, uint16(mix64(id.Random)%uint64(shards)), id.Shard, "shards=%d", shards)
	}
}
