package capacity

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseRate reads a rate such as "50000/s", "50k/s", "3000/min" or "1.2M/h"
// and returns tasks per second. A bare number is per second.
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	per := 1.0
	switch unit {
	case "", "s", "sec", "second":
	case "m", "min", "minute":
		per = 60
	case "h", "hour":
		per = 3600
	case "d", "day":
		per = 86400
	default:
		return 0, fmt.Errorf("rate %q: unit must be /s, /min, /h or /d", s)
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(num, "k"), strings.HasSuffix(num, "K"):
		mult, num = 1e3, num[:len(num)-1]
	case strings.HasSuffix(num, "M"):
		mult, num = 1e6, num[:len(num)-1]
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("rate %q: want a positive number such as 50000/s", s)
	}
	return v * mult / per, nil
}

// ParseSize reads a size such as "1KiB", "1KB", "2MiB" or "512" (bytes).
func ParseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}}
	mult := 1
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, s = u.mult, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want e.g. 1KiB, 512B or 2MiB", s)
	}
	return int(v * float64(mult)), nil
}
