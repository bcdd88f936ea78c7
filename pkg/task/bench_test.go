package task

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func BenchmarkNewID(b *testing.B) {
	due := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewID(due, 64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIDString(b *testing.B) {
	id := ID{DueMs: 1_893_456_000_123, Shard: 11, Random: 0x0123456789abcdef}
	b.ReportAllocs()
	for b.Loop() {
		_ = id.String()
	}
}

func BenchmarkParseID(b *testing.B) {
	s := ID{DueMs: 1_893_456_000_123, Shard: 11, Random: 0x0123456789abcdef}.String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseID(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyOf(b *testing.B) {
	l := Layout{Bucket: time.Minute}
	id := ID{DueMs: 1_893_456_000_123, Shard: 11, Random: 0x0123456789abcdef}
	b.ReportAllocs()
	for b.Loop() {
		_ = l.KeyOf(id)
	}
}

// createBody is a realistic create request: a webhook target, a ~1 KiB JSON
// payload, a retry policy, an idempotency key and labels.
func createBody(b *testing.B) []byte {
	b.Helper()
	items := make([]map[string]any, 0, 8)
	for i := range 8 {
		items = append(items, map[string]any{
			"sku": "SKU-" + strings.Repeat("7", 8), "qty": i + 1, "price_cents": 1999 * (i + 1),
			"description": "A moderately long line-item description " + strings.Repeat("x", 20),
		})
	}
	payload, err := json.MarshalIndent(map[string]any{
		"event": "invoice.reminder", "customer_id": "cus_0123456789abcdef", "items": items,
		"notes": "Remind the customer three days before the invoice falls due.",
	}, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if len(payload) < 1024 {
		b.Fatalf("payload is %d bytes, want ≥ 1 KiB", len(payload))
	}
	body, err := json.Marshal(map[string]any{
		"due_at":          "2030-01-02T15:04:05.250Z",
		"target":          map[string]any{"kind": "webhook", "url": "https://hooks.example.com/billing/reminders", "method": "POST"},
		"payload":         json.RawMessage(payload),
		"retry":           map[string]any{"max_attempts": 8, "initial_backoff_ms": 500, "max_backoff_ms": 600000},
		"idempotency_key": "invoice-2030-01-42-reminder",
		"labels":          map[string]string{"team": "billing", "env": "prod", "tier": "gold"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkDecodeCreate(b *testing.B) {
	body := createBody(b)
	lim := DefaultLimits()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := DecodeCreate(body, "", testNow, lim, testValidator); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

// BenchmarkCheckJSON prices the duplicate-key and UTF-8 check (screen,
// and the token walk alone) on 256 KiB
// payloads (the limit) of three shapes, beside json.Unmarshal of the same
// body into a map, which every create already pays: compare the two as a
// ratio in one run.
func BenchmarkCheckJSON(b *testing.B) {
	const size = 256 << 10
	shapes := map[string]string{
		"one-string": `{"payload":"` + strings.Repeat("x", size) + `"}`,
		"numbers":    `{"payload":[` + strings.TrimSuffix(strings.Repeat("12345,", size/6), ",") + `]}`,
		"objects":    `{"payload":[` + strings.TrimSuffix(strings.Repeat(`{"id":1,"name":"ab","ok":true},`, size/31), ",") + `]}`,
		// Escaped keys are decoded by the screen, not left to the walk.
		"escaped-keys": `{"payload":[` + strings.TrimSuffix(strings.Repeat(`{"\u0069d":1,"n\u0061me":"ab"},`, size/32), ",") + `]}`,
	}
	for name, body := range shapes {
		data := []byte(body)
		b.Run(name+"/check", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if fe := CheckJSON(data, ""); fe != nil {
					b.Fatal(fe)
				}
			}
		})
		b.Run(name+"/walk", func(b *testing.B) { // the slow path: a body the screen cannot clear
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if fe := walkJSON(data, ""); fe != nil {
					b.Fatal(fe)
				}
			}
		})
		b.Run(name+"/unmarshal", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(data, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
