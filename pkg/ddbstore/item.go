package ddbstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Attribute names of a task item. Short names keep items (and so capacity
// units) small; this table documents them.
const (
	aPK         = "pk"          // "<bucket start>#<shard>"
	aSK         = "sk"          // "<due ms>#<id>"
	aID         = "id"          // task ID text
	aTenant     = "tenant"      //
	aDue        = "due_ms"      // due time, ms
	aKind       = "kind"        // target kind
	aTarget     = "target"      // target object, JSON
	aPayload    = "payload"     // payload, JSON
	aMaxAtt     = "max_att"     // retry: total attempts
	aBackInit   = "back_init"   // retry: initial backoff ms
	aBackMax    = "back_max"    // retry: max backoff ms
	aIdemKey    = "idem"        // idempotency key sent to the target (absent: the ID)
	aLabels     = "labels"      // map of labels
	aState      = "state"       //
	aVer        = "ver"         // version, bumped on every transition
	aPH         = "ph"          // payload hash
	aAttemptN   = "att_n"       // attempts started
	aAttempts   = "attempts"    // finished attempts (list of maps)
	aNext       = "next_ms"     // RETRYING: earliest next attempt
	aLeaseOwner = "lease_owner" //
	aLeaseUntil = "lease_ms"    //
	aLastErr    = "last_error"  //
	aCreated    = "created_ms"  //
	aUpdated    = "updated_ms"  //
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
		aPK:       sAttr(key.PK),
		aSK:       sAttr(key.SK),
		aID:       sAttr(t.ID.String()),
		aTenant:   sAttr(t.Tenant),
		aDue:      msAttr(t.DueAt),
		aKind:     sAttr(t.Target.Kind),
		aTarget:   sAttr(string(t.Target.Spec)),
		aPayload:  sAttr(string(t.Payload)),
		aMaxAtt:   nAttr(int64(t.Retry.MaxAttempts)),
		aBackInit: nAttr(t.Retry.InitialBackoff.Milliseconds()),
		aBackMax:  nAttr(t.Retry.MaxBackoff.Milliseconds()),
		aState:    sAttr(string(t.State)),
		aVer:      nAttr(t.Version),
		aPH:       sAttr(t.PayloadHash),
		aAttemptN: nAttr(0),
		aCreated:  msAttr(t.CreatedAt),
		aUpdated:  msAttr(t.UpdatedAt),
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

func unmarshalTask(item map[string]types.AttributeValue) (*task.Task, error) {
	id, err := task.ParseID(getS(item, aID))
	if err != nil {
		return nil, fmt.Errorf("decode task item %q: %w", getS(item, aSK), err)
	}
	t := &task.Task{
		ID:             id,
		Tenant:         getS(item, aTenant),
		DueAt:          getMs(item, aDue),
		Target:         task.TargetOf(getS(item, aKind), json.RawMessage(getS(item, aTarget))),
		Payload:        json.RawMessage(getS(item, aPayload)),
		IdempotencyKey: getS(item, aIdemKey),
		Retry: task.Retry{
			MaxAttempts:    int(getN(item, aMaxAtt)),
			InitialBackoff: time.Duration(getN(item, aBackInit)) * time.Millisecond,
			MaxBackoff:     time.Duration(getN(item, aBackMax)) * time.Millisecond,
		},
		State:       task.State(getS(item, aState)),
		Version:     getN(item, aVer),
		PayloadHash: getS(item, aPH),
		AttemptN:    int(getN(item, aAttemptN)),
		NextAt:      getMs(item, aNext),
		LeaseOwner:  getS(item, aLeaseOwner),
		LeaseUntil:  getMs(item, aLeaseUntil),
		LastError:   getS(item, aLastErr),
		CreatedAt:   getMs(item, aCreated),
		UpdatedAt:   getMs(item, aUpdated),
		FinishedAt:  getMs(item, aFinished),
		ReplacedBy:  getS(item, aReplacedBy),
		FastPath:    getN(item, aFastPath) == 1,
		LimitKey:    getS(item, aLimitKey),
		LimitWaits:  int(getN(item, aLimitWaits)),
		LimitWaited: time.Duration(getN(item, aLimitWait)) * time.Millisecond,
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
