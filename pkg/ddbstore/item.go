package ddbstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Attribute names of a task item. Short names keep items (and so capacity
// units) small; this table documents them.
//
// A task item is written with as few attributes as its reads and
// conditions allow (issue 18: the emulator's cost per write grows with the
// attribute count, about 0.02 ms of its CPU each, and every name counts
// toward DynamoDB's item size): what is fixed at create and only ever read
// together — target kind, target, payload, backoffs — travels packed in
// one binary attribute (aBody, see packBody); the ID is the sort key's
// tail, att_n is absent until the first claim and updated_ms until the
// first change. Attributes that conditions or updates name on their own
// (tenant, due_ms, state, ver, ph, max_att, ...) stay attributes. Items
// written before (with id, kind, target, payload, back_init, back_max,
// att_n and updated_ms) still read: unmarshalTask takes either shape, and
// an in-place update rewrites the old one into the new.
const (
	aPK         = "pk"          // "<bucket start>#<shard>"
	aSK         = "sk"          // "<due ms>#<id>"
	aID         = "id"          // task ID text (old items only: the ID is sk's tail)
	aTenant     = "tenant"      //
	aDue        = "due_ms"      // due time, ms
	aBody       = "d"           // kind, target, payload and backoffs, packed (packBody)
	aKind       = "kind"        // target kind (old items; schedules)
	aTarget     = "target"      // target object, JSON (old items; schedules)
	aPayload    = "payload"     // payload, JSON (old items; schedules)
	aMaxAtt     = "max_att"     // retry: total attempts (set again by a redrive)
	aBackInit   = "back_init"   // retry: initial backoff ms (old items; schedules)
	aBackMax    = "back_max"    // retry: max backoff ms (old items; schedules)
	aIdemKey    = "idem"        // idempotency key sent to the target (absent: the ID)
	aLabels     = "labels"      // map of labels
	aState      = "state"       //
	aVer        = "ver"         // version, bumped on every transition
	aPH         = "ph"          // payload hash
	aAttemptN   = "att_n"       // attempts started (absent: none)
	aAttempts   = "attempts"    // finished attempts (list of maps)
	aNext       = "next_ms"     // RETRYING: earliest next attempt
	aLeaseOwner = "lease_owner" //
	aLeaseUntil = "lease_ms"    //
	aLastErr    = "last_error"  //
	aCreated    = "created_ms"  //
	aUpdated    = "updated_ms"  // absent: never changed since created_ms
	aFinished   = "finished_ms" //
	aExpires    = "expires_at"  // TTL (seconds): clean-up only, never relied on
	aGSIPK      = "gsi1pk"      // by_tenant index: "ten#<len(tenant)>#<tenant>"; written at create (Options.ListIndex only), never updated
	aGSISK      = "gsi1sk"      // by_tenant index: "<due ms>#<id>" (as sk); written at create (Options.ListIndex only), never updated
	aFailedSK   = "failed_sk"   // by_failed index sort key: "<due ms>#<id>" (as sk); written by a FAILED outcome only, removed by a redrive
	aReplacedBy = "replaced_by" // CANCELLED by a reschedule: the ID of the task that replaced it
	aSched      = "sch"         // occurrence of a schedule: the schedule ID (absent on one-off tasks)
	aSchedGen   = "sch_gen"     // occurrence: the schedule's generation
	aOccurAt    = "occ_ms"      // occurrence: nominal fire time, ms
	aFastPath   = "fp"          // 1: the create sends the task itself (task.Task.FastPath); dispatchers skip it, sweeps do not
	aLimitKey   = "lk"          // the task's limit key (absent: none)
	aLimitWaits = "lw"          // times the task waited for its limit key (added to, never fenced)
	aLimitWait  = "lw_ms"       // how long it waited in all, ms
)

func sAttr(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func nAttr(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func msAttr(t time.Time) types.AttributeValue { return nAttr(t.UnixMilli()) }

func getS(item map[string]types.AttributeValue, k string) string {
	if v, ok := item[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, k string) int64 {
	if v, ok := item[k].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func getMs(item map[string]types.AttributeValue, k string) time.Time {
	n := getN(item, k)
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// marshalTask builds the item for a new task: every create, batch create,
// schedule occurrence and reschedule writes its item from here. The
// by_tenant index keys are set only with Options.ListIndex: without them
// the item is not in the index, which then costs no write.
func (s *Store) marshalTask(t *task.Task) map[string]types.AttributeValue {
	key := s.layout.KeyOf(t.ID)
	item := map[string]types.AttributeValue{
		aPK:      sAttr(key.PK),
		aSK:      sAttr(key.SK),
		aTenant:  sAttr(t.Tenant),
		aDue:     msAttr(t.DueAt),
		aBody:    &types.AttributeValueMemberB{Value: packBody(t)},
		aMaxAtt:  nAttr(int64(t.Retry.MaxAttempts)),
		aState:   sAttr(string(t.State)),
		aVer:     nAttr(t.Version),
		aPH:      sAttr(t.PayloadHash),
		aCreated: msAttr(t.CreatedAt),
	}
	if !t.UpdatedAt.Equal(t.CreatedAt) {
		item[aUpdated] = msAttr(t.UpdatedAt)
	}
	if s.listIndex {
		item[aGSIPK], item[aGSISK] = sAttr(tenantIndexKey(t.Tenant)), sAttr(key.SK)
	}
	if t.IdempotencyKey != "" {
		item[aIdemKey] = sAttr(t.IdempotencyKey)
	}
	if t.FastPath {
		item[aFastPath] = nAttr(1)
	}
	if t.LimitKey != "" {
		item[aLimitKey] = sAttr(t.LimitKey)
	}
	if o := t.Occurrence; o != nil {
		item[aSched], item[aSchedGen], item[aOccurAt] = sAttr(o.Schedule), nAttr(o.Generation), msAttr(o.At)
	}
	if len(t.Labels) > 0 {
		m := make(map[string]types.AttributeValue, len(t.Labels))
		for k, v := range t.Labels {
			m[k] = sAttr(v)
		}
		item[aLabels] = &types.AttributeValueMemberM{Value: m}
	}
	return item
}

// bodyV1 is packBody's format: this byte, then the target kind, the target
// and the payload, each as a uvarint length and its bytes, then the initial
// and maximum backoff in ms as uvarints. Bytes are kept exactly (no JSON
// re-encoding): the payload goes out as it came in.
const bodyV1 = 1

// packBody packs what a task fixes at create and reads together (see the
// attribute table) into aBody's value.
func packBody(t *task.Task) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen32+len(t.Target.Kind)+len(t.Target.Spec)+len(t.Payload)+2*binary.MaxVarintLen64)
	b = append(b, bodyV1)
	for _, f := range [][]byte{[]byte(t.Target.Kind), t.Target.Spec, t.Payload} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(max(t.Retry.InitialBackoff.Milliseconds(), 0)))
	return binary.AppendUvarint(b, uint64(max(t.Retry.MaxBackoff.Milliseconds(), 0)))
}

// unpackBody sets t's packed fields from b (packBody's format).
func unpackBody(t *task.Task, b []byte) error {
	if len(b) == 0 || b[0] != bodyV1 {
		return errors.New("packed body: unknown format")
	}
	b = b[1:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return errors.New("packed body: truncated")
		}
		fields[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	var ms [2]uint64
	for i := range ms {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return errors.New("packed body: truncated")
		}
		ms[i], b = v, b[k:]
	}
	t.Target = task.TargetOf(fields[0], json.RawMessage(fields[1]))
	t.Payload = json.RawMessage(fields[2])
	t.Retry.InitialBackoff = time.Duration(ms[0]) * time.Millisecond
	t.Retry.MaxBackoff = time.Duration(ms[1]) * time.Millisecond
	return nil
}

// idOf is a task item's ID: the sort key's tail ("<due ms>#<id>"), or the
// id attribute of items written before it was left out.
func idOf(item map[string]types.AttributeValue) string {
	if id := getS(item, aID); id != "" {
		return id
	}
	_, id, _ := strings.Cut(getS(item, aSK), "#")
	return id
}

func unmarshalTask(item map[string]types.AttributeValue) (*task.Task, error) {
	id, err := task.ParseID(idOf(item))
	if err != nil {
		return nil, fmt.Errorf("decode task item %q: %w", getS(item, aSK), err)
	}
	t := &task.Task{
		ID:             id,
		Tenant:         getS(item, aTenant),
		DueAt:          getMs(item, aDue),
		IdempotencyKey: getS(item, aIdemKey),
		Retry:          task.Retry{MaxAttempts: int(getN(item, aMaxAtt))},
		State:          task.State(getS(item, aState)),
		Version:        getN(item, aVer),
		PayloadHash:    getS(item, aPH),
		AttemptN:       int(getN(item, aAttemptN)),
		NextAt:         getMs(item, aNext),
		LeaseOwner:     getS(item, aLeaseOwner),
		LeaseUntil:     getMs(item, aLeaseUntil),
		LastError:      getS(item, aLastErr),
		CreatedAt:      getMs(item, aCreated),
		UpdatedAt:      getMs(item, aUpdated),
		FinishedAt:     getMs(item, aFinished),
		ReplacedBy:     getS(item, aReplacedBy),
		FastPath:       getN(item, aFastPath) == 1,
		LimitKey:       getS(item, aLimitKey),
		LimitWaits:     int(getN(item, aLimitWaits)),
		LimitWaited:    time.Duration(getN(item, aLimitWait)) * time.Millisecond,
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	if b, ok := item[aBody].(*types.AttributeValueMemberB); ok {
		if err := unpackBody(t, b.Value); err != nil {
			return nil, fmt.Errorf("decode task item %q: %w", getS(item, aSK), err)
		}
	} else {
		// Written before aBody: one attribute each.
		t.Target = task.TargetOf(getS(item, aKind), json.RawMessage(getS(item, aTarget)))
		t.Payload = json.RawMessage(getS(item, aPayload))
		t.Retry.InitialBackoff = time.Duration(getN(item, aBackInit)) * time.Millisecond
		t.Retry.MaxBackoff = time.Duration(getN(item, aBackMax)) * time.Millisecond
	}
	if sch := getS(item, aSched); sch != "" {
		t.Occurrence = &task.Occurrence{Schedule: sch, Generation: getN(item, aSchedGen), At: getMs(item, aOccurAt)}
	}
	if m, ok := item[aLabels].(*types.AttributeValueMemberM); ok && len(m.Value) > 0 {
		t.Labels = make(map[string]string, len(m.Value))
		for k, v := range m.Value {
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				t.Labels[k] = sv.Value
			}
		}
	}
	if l, ok := item[aAttempts].(*types.AttributeValueMemberL); ok {
		for _, av := range l.Value {
			m, ok := av.(*types.AttributeValueMemberM)
			if !ok {
				continue
			}
			a := m.Value
			t.Attempts = append(t.Attempts, task.Attempt{
				N:          int(getN(a, "n")),
				StartedAt:  getMs(a, "start_ms"),
				EndedAt:    getMs(a, "end_ms"),
				Outcome:    getS(a, "outcome"),
				StatusCode: int(getN(a, "status")),
				Error:      getS(a, "error"),
				Summary:    getS(a, "summary"),
				Worker:     getS(a, "worker"),
				Run:        getS(a, "run"),
			})
		}
	}
	return t, nil
}

func marshalAttempt(a task.Attempt) types.AttributeValue {
	m := map[string]types.AttributeValue{
		"n":        nAttr(int64(a.N)),
		"start_ms": msAttr(a.StartedAt),
		"end_ms":   msAttr(a.EndedAt),
		"outcome":  sAttr(a.Outcome),
	}
	if a.StatusCode != 0 {
		m["status"] = nAttr(int64(a.StatusCode))
	}
	if a.Error != "" {
		m["error"] = sAttr(a.Error)
	}
	if a.Summary != "" {
		m["summary"] = sAttr(a.Summary)
	}
	if a.Worker != "" {
		m["worker"] = sAttr(a.Worker)
	}
	if a.Run != "" {
		m["run"] = sAttr(a.Run)
	}
	return &types.AttributeValueMemberM{Value: m}
}
