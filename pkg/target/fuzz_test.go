package target_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/ebtarget"
	"github.com/hourglass-sched/hourglass/pkg/target/sqstarget"
)

// FuzzOwnSpellings: however the task queue or the bus is spelled — any
// case, any SQS host form, percent-encoded letters, name or ARN — a target
// naming it is refused.
func FuzzOwnSpellings(f *testing.F) {
	f.Add(uint64(0), uint8(0), uint64(0))
	f.Add(uint64(0xffff), uint8(3), uint64(5))
	f.Add(uint64(0xaaaa), uint8(5), uint64(0xffffffff))
	queue := "Hourglass-TaskQueue1A2B-xyz"
	o := target.Own{Buses: []string{"hourglass"}, Queues: []string{"https://sqs.us-east-1.amazonaws.com/" + acct + "/" + queue}}
	p := &target.Policy{Own: o}
	sq := target.Guard(sqstarget.New(nil), p)
	eb := target.Guard(ebtarget.New(nil), p)
	hosts := []string{"https://sqs.us-east-1.amazonaws.com", "https://queue.amazonaws.com", "https://eu-west-1.queue.amazonaws.com",
		"http://localhost:4566", "https://sqs.cn-north-1.amazonaws.com.cn", "https://SQS.US-EAST-1.AMAZONAWS.COM"}
	f.Fuzz(func(t *testing.T, caseMask uint64, host uint8, escMask uint64) {
		spell := func(name string) string {
			var b strings.Builder
			for i, r := range name {
				s := string(r)
				if caseMask&(1<<(uint(i)%64)) != 0 {
					s = strings.ToUpper(s)
				} else {
					s = strings.ToLower(s)
				}
				if escMask&(1<<(uint(i)%64)) != 0 {
					s = "%" + strings.ToUpper(hexByte(s[0]))
				}
				b.WriteString(s)
			}
			return b.String()
		}
		u := hosts[int(host)%len(hosts)] + "/" + acct + "/" + spell(queue)
		spec, _ := json.Marshal(map[string]string{"kind": "sqs", "queue_url": u})
		if !refused(sq.Validate(spec), "queue_url") {
			t.Fatalf("%s accepted", u)
		}
		for _, bus := range []string{spell("hourglass"), "arn:aws:events:us-east-1:" + acct + ":event-bus/" + spell("hourglass")} {
			spec, _ := json.Marshal(map[string]string{"kind": "eventbridge", "bus": bus, "source": "s", "detail_type": "CreateTask"})
			if strings.Contains(bus, "%") {
				continue // not a valid bus name: refused by the kind's own rules
			}
			if !refused(eb.Validate(spec), "bus") {
				t.Fatalf("bus %s accepted", bus)
			}
		}
	})
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

func refused(errs []target.FieldError, field string) bool {
	for _, e := range errs {
		if e.Field == field {
			return true
		}
	}
	return false
}
