package task

import (
	"testing"
	"time"
)

func TestDerivedIDIsDeterministic(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 2, 3, 4, 5, 678e6, time.UTC)
	a, err := DerivedID(due, 16, []byte("schedule s1 occurrence 1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DerivedID(due, 16, []byte("schedule s1 occurrence 1"))
	c, _ := DerivedID(due, 16, []byte("schedule s1 occurrence 2"))
	if a != b {
		t.Errorf("same seed, different IDs: %s %s", a, b)
	}
	if a == c || a.Random == c.Random {
		t.Errorf("different seeds, same random bits: %s %s", a, c)
	}
	if a.DueMs != due.UnixMilli() || a.Shard >= 16 || a.Shard != uint16(mix64(a.Random)%16) {
		t.Errorf("ID %+v does not carry the due time and the hash's shard", a)
	}
	if back, err := ParseID(a.String()); err != nil || back != a {
		t.Errorf("round trip: %v %v", back, err)
	}
	shards := map[uint16]bool{}
	for i := range 200 {
		id, _ := DerivedID(due, 8, []byte{byte(i), byte(i >> 8)})
		shards[id.Shard] = true
	}
	if len(shards) != 8 {
		t.Errorf("200 seeds used %d of 8 shards", len(shards))
	}
	if _, err := DerivedID(due, 0, nil); err == nil {
		t.Error("0 shards accepted")
	}
	if _, err := DerivedID(time.Unix(-1, 0), 1, nil); err == nil {
		t.Error("a due time before 1970 accepted")
	}
}
