package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// LimitStore is what the limits service needs of storage (ddbstore.Store).
type LimitStore interface {
	PutLimit(ctx context.Context, l task.Limit) error
	GetLimit(ctx context.Context, tenant, key string) (task.Limit, error)
	ListLimits(ctx context.Context, tenant string) ([]task.Limit, error)
	DeleteLimit(ctx context.Context, tenant, key string) error
}

// Limits holds the rules about a tenant's limit keys: what a key and a
// limit may be, and that a tenant sees and changes only its own. The
// workers enforce the limits (package worker).
type Limits struct {
	store LimitStore
	clock clock.Clock
}

// NewLimits returns the limits service.
func NewLimits(store LimitStore, clk clock.Clock) *Limits {
	return &Limits{store: store, clock: clk}
}

var limitFields = map[string]bool{"max_concurrency": true, "per_second": true}

// Put validates body ({"max_concurrency": n, "per_second": r}, either
// omitted or null: unlimited) and sets the tenant's limit on key. created
// says whether the key had no limit before.
func (s *Limits) Put(ctx context.Context, tenant, key string, body []byte) (l task.Limit, created bool, err error) {
	if !task.ValidLimitKey(key) {
		return task.Limit{}, false, invalid("key", task.LimitKeyRule)
	}
	if fe := task.CheckJSON(body, ""); fe != nil {
		return task.Limit{}, false, &Invalid{Fields: []task.FieldError{*fe}}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return task.Limit{}, false, invalid("body", "must be a JSON object with max_concurrency and/or per_second"+jsonHint(err))
	}
	var errs []task.FieldError
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !limitFields[k] {
			errs = append(errs, task.FieldError{Field: k, Reason: "unknown field"})
		}
	}
	l = task.Limit{Tenant: tenant, Key: key, UpdatedAt: s.clock.Now().UTC()}
	intField := func(name string, max int) int {
		v, ok := raw[name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return 0
		}
		var n json.Number
		v = bytes.TrimSpace(v)
		// json.Number also takes a quoted number: only a bare one is.
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
			errs = append(errs, task.FieldError{Field: name, Reason: fmt.Sprintf("must be an integer from 1 to %d, or omitted for no limit", max)})
			return 0
		}
		i, err := n.Int64()
		if err != nil || i < 1 || i > int64(max) {
			errs = append(errs, task.FieldError{Field: name, Reason: fmt.Sprintf("must be an integer from 1 to %d, or omitted for no limit", max)})
			return 0
		}
		return int(i)
	}
	l.MaxConcurrency = intField("max_concurrency", task.MaxLimitConcurrency)
	l.PerSecond = intField("per_second", task.MaxLimitPerSecond)
	if len(errs) > 0 {
		return task.Limit{}, false, &Invalid{Fields: errs}
	}
	_, gerr := s.store.GetLimit(ctx, tenant, key)
	switch {
	case errors.Is(gerr, task.ErrNotFound):
		created = true
	case gerr != nil:
		return task.Limit{}, false, gerr
	}
	if err := s.store.PutLimit(ctx, l); err != nil {
		return task.Limit{}, false, err
	}
	return l, created, nil
}

// Get returns the tenant's limit on key, or *NotFound.
func (s *Limits) Get(ctx context.Context, tenant, key string) (task.Limit, error) {
	if !task.ValidLimitKey(key) {
		return task.Limit{}, &NotFound{What: "limit " + key}
	}
	l, err := s.store.GetLimit(ctx, tenant, key)
	if errors.Is(err, task.ErrNotFound) {
		return task.Limit{}, &NotFound{What: "limit " + key}
	}
	return l, err
}

// List returns the tenant's limits, ordered by key.
func (s *Limits) List(ctx context.Context, tenant string) ([]task.Limit, error) {
	return s.store.ListLimits(ctx, tenant)
}

// Delete removes the tenant's limit on key (its tasks then run unlimited),
// or *NotFound.
func (s *Limits) Delete(ctx context.Context, tenant, key string) error {
	if !task.ValidLimitKey(key) {
		return &NotFound{What: "limit " + key}
	}
	err := s.store.DeleteLimit(ctx, tenant, key)
	if errors.Is(err, task.ErrNotFound) {
		return &NotFound{What: "limit " + key}
	}
	return err
}
